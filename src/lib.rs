//! `provision`: declarative stacks for the AWS CodePipeline → EKS CI/CD pipeline.
//!
//! Data flow, one direction: `stack::load` (YAML + policies → positioned tree) → `stack::validate`
//! (each kind's field table, references, cycles) → `engine::plan` (resolve, inventory of what the
//! account holds, `decide`: pure) → `contract::Plan` → `render` (human / JSON views) and
//! `engine::apply` (executes the plan through the scheduler).
//!
//! Layers: `cli` → `stack`, `engine`, `render` → `contract` ← `resources` (the kinds) → `aws`,
//! `kube`. Nothing points back up.

pub mod aws;
pub mod check;
pub mod cli;
pub mod contract;
pub mod engine;
pub mod error;
pub mod files;
pub mod identity;
pub mod kube;
pub mod mfa;
pub mod render;
pub mod resources;
pub mod review;
pub mod stack;

pub use error::{Error, Result};
