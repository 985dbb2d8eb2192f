//! The resource kinds: one file each, mostly a field table plus the SDK mapping (see
//! `contract::kind`). Adding a kind = one file here plus one line in `KINDS`. No kind imports
//! another; what the IAM kinds share lives in `iam` (not a kind).

pub mod codebuild_project;
pub mod codepipeline;
pub mod codestar_connection;
pub mod ecr_repository;
pub mod eks_access_entry;
pub mod eks_aws_auth_role;
pub mod events_rule;
pub mod iam;
pub mod iam_oidc_provider;
pub mod iam_policy;
pub mod iam_role;
pub mod s3_bucket;
pub mod sns_topic;

use crate::contract::{Kind, Registry};

/// A resource's tags: from the stack's Tagging API answer (`owned`) when it carries the stack's
/// tag, else asked of its service: a same-named resource that is not ours, whose is it? Every
/// SDK has its own tag type (with the same `key()` and `value()`), hence a macro.
macro_rules! tags_or_list {
    ($owned:expr, $key:expr, $list_tags:expr) => {
        match $owned.get($key) {
            Some(t) => t.clone(),
            None => $list_tags.send().await.op("ListTagsForResource")?.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
        }
    };
}
pub(crate) use tags_or_list;

static KINDS: &[&dyn Kind] = &[
    &ecr_repository::EcrRepository,
    &s3_bucket::S3Bucket,
    &codestar_connection::CodestarConnection,
    &sns_topic::SnsTopic,
    &iam_role::IamRole,
    &iam_policy::IamPolicy,
    &iam_oidc_provider::IamOidcProvider,
    &events_rule::EventsRule,
    &codebuild_project::CodebuildProject,
    &codepipeline::Codepipeline,
    &eks_aws_auth_role::EksAwsAuthRole,
    &eks_access_entry::EksAccessEntry,
];

/// Every kind the tool knows.
pub struct Kinds;

impl Registry for Kinds {
    fn kinds(&self) -> &[&'static dyn Kind] {
        KINDS
    }
}
