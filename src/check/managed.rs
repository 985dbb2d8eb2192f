//! AWS-managed policy documents: a bundled snapshot (`data/aws-managed-policies.json`, with the
//! date it was taken and its sources) that a caller can override with live documents read from IAM.

use serde_json::Value;
use std::collections::BTreeMap;

const SNAPSHOT: &str = include_str!("../../data/aws-managed-policies.json");

/// Policy documents by ARN. Start from [`ManagedPolicies::bundled`] (offline) and
/// [`insert`](ManagedPolicies::insert) what IAM returns (`GetPolicyVersion` of the default version)
/// when the account is reachable: a live document replaces the bundled one.
#[derive(Clone, Debug, Default)]
pub struct ManagedPolicies {
    docs: BTreeMap<String, Value>,
    live: Vec<String>,
}

impl ManagedPolicies {
    /// No documents at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The bundled snapshot.
    pub fn bundled() -> Self {
        let v: Value = serde_json::from_str(SNAPSHOT).expect("data/aws-managed-policies.json is valid JSON");
        let docs = v["policies"].as_object().map(|m| m.iter().map(|(arn, p)| (arn.clone(), p["document"].clone())).collect()).unwrap_or_default();
        ManagedPolicies { docs, live: vec![] }
    }

    /// The date the bundled snapshot was taken (`YYYY-MM-DD`).
    pub fn snapshot_date() -> String {
        let v: Value = serde_json::from_str(SNAPSHOT).expect("valid JSON");
        v["taken"].as_str().unwrap_or_default().to_string()
    }

    /// Add or replace a document (a live one read from IAM, or any policy the caller knows).
    pub fn insert(&mut self, arn: impl Into<String>, document: Value) {
        let arn = arn.into();
        self.live.push(arn.clone());
        self.docs.insert(arn, document);
    }

    /// The document of a policy ARN. The bundled snapshot is keyed by the `aws` partition; a
    /// policy of another partition (`arn:aws-cn:iam::aws:policy/X`) falls back to it.
    pub fn get(&self, arn: &str) -> Option<&Value> {
        self.docs.get(arn).or_else(|| {
            let rest = arn.strip_prefix("arn:")?.split_once(':')?.1;
            self.docs.get(&format!("arn:aws:{rest}"))
        })
    }

    /// Whether the document of `arn` came from [`insert`](ManagedPolicies::insert).
    pub fn is_live(&self, arn: &str) -> bool {
        self.live.iter().any(|a| a == arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_holds_the_policies_the_stacks_use() {
        let m = ManagedPolicies::bundled();
        for name in [
            "AmazonEC2ContainerRegistryFullAccess",
            "AmazonEC2ContainerRegistryPowerUser",
            "CloudWatchLogsFullAccess",
            "AWSCodeBuildAdminAccess",
            "AWSCodeBuildDeveloperAccess",
            "AmazonS3FullAccess",
            "AdministratorAccess",
            "AmazonEKSClusterPolicy",
        ] {
            let doc = m.get(&format!("arn:aws:iam::aws:policy/{name}")).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(doc["Version"], "2012-10-17", "{name}");
        }
        assert_eq!(ManagedPolicies::snapshot_date().len(), 10);
        assert!(m.get("arn:aws-cn:iam::aws:policy/AdministratorAccess").is_some());
    }

    #[test]
    fn live_documents_replace_bundled_ones() {
        let mut m = ManagedPolicies::bundled();
        let arn = "arn:aws:iam::aws:policy/AmazonS3FullAccess";
        m.insert(arn, serde_json::json!({"Version": "2012-10-17", "Statement": []}));
        assert_eq!(m.get(arn).unwrap()["Statement"], serde_json::json!([]));
        assert!(m.is_live(arn));
    }
}
