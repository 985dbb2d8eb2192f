//! `provision`: declarative stacks for the AWS CodePipeline → EKS CI/CD pipeline.
//!
//! Data flow, one direction: `stack::load` (YAML + policies → typed, located) → `engine::plan`
//! (resolve, read live state concurrently, diff: pure) → `render` (human / JSON views) →
//! `engine::apply` (walk the dependency graph with bounded concurrency).

pub mod aws;
pub mod check;
pub mod cli;
pub mod engine;
pub mod error;
pub mod kube;
pub mod render;
pub mod resources;
pub mod stack;

pub use error::{Error, Result};
