//! One module per resource kind, each behind the `Kind` trait. Adding a kind = one file here plus one
//! line in `registry()`.
//!
//! The contract every kind follows:
//! - `desired` turns the stack's (resolved) properties into a canonical JSON *state*;
//! - `read` looks the resource up by its name (names are identities) and returns the live state in
//!   the very same shape, so the diff is a pure comparison of two values;
//! - `create` / `update` / `delete` are idempotent so a re-run after a crash finishes the job.
//!
//! Ownership checks, retries, ordering and progress output live in the engine, not here.

use crate::engine::diff::{self, FieldChange};
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

pub mod codebuild_project;
pub mod codepipeline;
pub mod codestar_connection;
pub mod ecr_repository;
pub mod eks_access_entry;
pub mod eks_aws_auth_role;
pub mod iam_policy;
pub mod iam_role;
pub mod s3_bucket;
pub mod sns_topic;

/// The tag that marks a resource as created by (and belonging to) a stack.
pub const OWNER_TAG: &str = "provision:stack";

/// Attribute values other resources can reference (`${iam_role.kubectl.arn}`); `None` = not known
/// until apply.
pub type Attrs = BTreeMap<String, Option<String>>;

/// What a kind wants to do, computed from the stack.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Desired {
    /// The AWS identity (name) of the resource.
    pub name: String,
    /// Canonical state; `null` fields mean "not set in the stack, AWS's value is fine".
    pub state: Value,
    /// Behaviour switches that are not AWS state (e.g. `force_destroy`): never diffed.
    #[serde(skip)]
    pub options: Value,
}

/// What exists in the account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Live {
    /// Same shape as `Desired::state`.
    pub state: Value,
    /// Value of the ownership tag (or annotation), if any.
    pub owner: Option<String>,
    /// Identifiers only known once the resource exists (ARNs with random parts, ids).
    pub attrs: BTreeMap<String, String>,
    /// Status worth showing that is not drift (e.g. "connection PENDING: finish the handshake").
    pub notes: Vec<String>,
}

impl Live {
    pub fn new(state: Value, tags: &BTreeMap<String, String>) -> Self {
        Live { state, owner: tags.get(OWNER_TAG).cloned(), attrs: BTreeMap::new(), notes: Vec::new() }
    }
}

/// A property problem found while checking a stack, located by its path in the resource's mapping.
#[derive(Debug, Clone)]
pub struct PropError {
    pub path: Vec<PathSeg>,
    pub message: String,
    pub help: Option<String>,
}

#[async_trait]
pub trait Kind: Send + Sync + 'static {
    /// The kind's name in stack files: `ecr_repository`.
    fn kind(&self) -> &'static str;

    /// Attributes other resources may reference.
    fn attributes(&self) -> &'static [&'static str];

    /// Type-check the declared properties (before `${}` resolution).
    fn check(&self, props: &Value) -> Result<(), PropError>;

    /// Properties (resolved) → desired state.
    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired>;

    /// Attribute values known at plan time, from the desired state and, when it exists, the live one.
    fn attrs(&self, ctx: &Ctx, desired: &Desired, live: Option<&Live>) -> Attrs;

    /// Fields whose change forces a replacement, with the reason shown in the plan.
    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

    /// Field-level differences; pure. The default compares the states, skipping fields the stack
    /// leaves unset.
    fn diff(&self, desired: &Desired, live: &Live) -> Vec<FieldChange> {
        diff::fields(&desired.state, &live.state)
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>>;

    /// Notes for a resource about to be created (what the user must do next, e.g. finish a GitHub
    /// handshake; or context, e.g. the cluster's authentication mode): shown in the plan and
    /// printed after the create.
    fn notes_after_create(&self, _desired: &Desired) -> Vec<String> {
        Vec::new()
    }

    /// Create; returns the attributes now known (e.g. a generated ARN).
    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>>;

    /// Bring an existing, owned resource to the desired state, knowing which fields differ.
    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()>;

    /// Delete an owned resource. Must succeed if it is already gone.
    async fn delete(&self, ctx: &Ctx, desired: &Desired, live: &Live) -> Result<()>;
}

/// Every kind the tool knows. The registration line for a new kind goes here.
pub fn registry() -> &'static [&'static dyn Kind] {
    &[
        &ecr_repository::EcrRepository,
        &s3_bucket::S3Bucket,
        &codestar_connection::CodestarConnection,
        &sns_topic::SnsTopic,
        &iam_role::IamRole,
        &iam_policy::IamPolicy,
        &codebuild_project::CodebuildProject,
        &codepipeline::Codepipeline,
        &eks_aws_auth_role::EksAwsAuthRole,
        &eks_access_entry::EksAccessEntry,
    ]
}

pub fn lookup(kind: &str) -> Option<&'static dyn Kind> {
    registry().iter().copied().find(|k| k.kind() == kind)
}

/// Type-check properties by deserializing them into the kind's config struct; serde's error path
/// becomes the location of the problem.
pub fn check_as<T: DeserializeOwned>(props: &Value) -> Result<(), PropError> {
    parse_as::<T>(props).map(|_| ())
}

pub fn parse_as<T: DeserializeOwned>(props: &Value) -> Result<T, PropError> {
    serde_path_to_error::deserialize::<_, T>(props).map_err(|e| PropError {
        path: crate::stack::node::path_segments(e.path()),
        message: e.inner().to_string(),
        help: None,
    })
}

/// Properties were checked at load time, so a failure here is a bug in a kind, not user input.
pub fn config<T: DeserializeOwned>(state: &Value) -> Result<T> {
    serde_json::from_value(state.clone())
        .map_err(|e| crate::Error::user(format!("internal: state does not match its schema: {e}"), "please report this"))
}

/// Does this (unresolved) string contain a `${...}` reference? `check` runs before resolution, so
/// format checks (names, ARNs) must skip such values; they are checked again by AWS at apply.
pub fn is_interpolated(s: &str) -> bool {
    s.contains("${")
}

/// Tags to set and tag keys to remove to go from `live` to `desired`.
pub fn tag_delta(
    desired: &BTreeMap<String, String>,
    live: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = desired.iter().filter(|(k, v)| live.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let remove = live.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    (set, remove)
}

/// Merge the ownership tag into user tags.
pub fn owned_tags(ctx: &Ctx, tags: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut t = tags.clone();
    t.insert(OWNER_TAG.to_string(), ctx.stack.clone());
    t
}
