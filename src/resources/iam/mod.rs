//! What the IAM kinds (`iam_role`, `iam_policy`) share: the policy document type with its normal
//! form, and IAM's spelling of paths and managed-policy names. Not a kind.

pub mod policy;

use crate::contract::schema::{Document, Pattern};
use crate::contract::{Tags, UNKNOWN};
use aws_sdk_iam::types::Tag;

/// IAM policy documents, compared by meaning (see `policy::canonical`).
pub static POLICY: Document = Document { name: "IAM policy document", canonical: policy::canonical, check: policy::check };

/// IAM's characters for role and policy names.
pub const NAME: Pattern =
    Pattern { describe: "letters, digits or `+=,.@_-`", check: |s| s.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)) };

pub fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

/// `AmazonEC2ContainerRegistryFullAccess` or `service-role/X` → the AWS-managed policy's ARN; ARNs
/// (e.g. a reference to a customer-managed policy) are kept.
pub fn managed_policy_arn(partition: &str, p: &str) -> String {
    if p.starts_with("arn:") || p == UNKNOWN {
        p.to_string()
    } else {
        format!("arn:{partition}:iam::aws:policy/{}", p.trim_start_matches('/'))
    }
}

/// `ci` → `/ci/`, as IAM stores paths.
pub fn normalize_path(p: &str) -> String {
    match p {
        "" | "/" => "/".to_string(),
        p => {
            let p = if p.starts_with('/') { p.to_string() } else { format!("/{p}") };
            if p.ends_with('/') {
                p
            } else {
                format!("{p}/")
            }
        }
    }
}

/// A document as IAM returns it (URL-encoded JSON), parsed; `null` if it does not parse.
pub fn document(text: Option<&str>) -> serde_json::Value {
    text.and_then(|t| policy::parse_iam_document(t).ok()).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_policy_names_become_aws_arns() {
        assert_eq!(managed_policy_arn("aws", "CloudWatchLogsFullAccess"), "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess");
        assert_eq!(managed_policy_arn("aws", "service-role/AWSCodePipelineServiceRole"), "arn:aws:iam::aws:policy/service-role/AWSCodePipelineServiceRole");
        assert_eq!(managed_policy_arn("aws", "arn:aws:iam::1:policy/x"), "arn:aws:iam::1:policy/x");
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("ci"), "/ci/");
        assert_eq!(normalize_path("/ci/"), "/ci/");
    }
}
