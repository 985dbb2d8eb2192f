//! `eks_access_entry`: EKS access entries, the API-managed replacement for aws-auth, with access
//! policies scoped to the cluster or to namespaces.
//!
//! ```yaml
//! eks_access_entry.kubectl:
//!   cluster: ${var.cluster_name}
//!   principal_arn: ${iam_role.kubectl.arn}
//!   kubernetes_groups: []            # never `system:*`: EKS rejects them
//!   access_policies:
//!     - policy: AmazonEKSEditPolicy
//!       scope: { type: namespace, namespaces: [default] }
//! ```

use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct EksAccessEntry;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    cluster: String,
    principal_arn: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    kubernetes_groups: Vec<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    access_policies: Vec<PolicyProps>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyProps {
    policy: String,
    #[serde(default)]
    scope: Option<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scope {
    #[serde(rename = "type")]
    kind: ScopeType,
    #[serde(default)]
    namespaces: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ScopeType {
    Cluster,
    Namespace,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    cluster: String,
    principal_arn: String,
    username: Option<String>,
    kubernetes_groups: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    /// Policy ARN -> scope.
    access_policies: BTreeMap<String, Scope>,
    tags: BTreeMap<String, String>,
}

fn policy_arn(p: &str) -> String {
    if p.starts_with("arn:") {
        p.to_string()
    } else {
        format!("arn:aws:eks::aws:cluster-access-policy/{p}")
    }
}

fn address(cluster: &str, principal: &str) -> String {
    format!("access entry of {principal} on {cluster}")
}

#[async_trait]
impl Kind for EksAccessEntry {
    fn kind(&self) -> &'static str {
        "eks_access_entry"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["principal_arn", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        let refuse = |path: Vec<PathSeg>, what: &str| PropError {
            path,
            message: format!("{what} starts with `system:`, which EKS reserves and refuses in access entries"),
            help: Some("grant the permissions with `access_policies` (e.g. AmazonEKSClusterAdminPolicy or AmazonEKSEditPolicy) instead of a system: group".into()),
        };
        for (i, g) in p.kubernetes_groups.iter().enumerate() {
            if g.starts_with("system:") {
                return Err(refuse(vec![PathSeg::Key("kubernetes_groups".into()), PathSeg::Index(i)], &format!("group `{g}`")));
            }
        }
        if let Some(u) = p.username.as_deref().filter(|u| u.starts_with("system:")) {
            return Err(refuse(vec![PathSeg::Key("username".into())], &format!("username `{u}`")));
        }
        for (i, a) in p.access_policies.iter().enumerate() {
            if let Some(Scope { kind: ScopeType::Namespace, namespaces }) = &a.scope {
                if namespaces.is_empty() {
                    return Err(PropError {
                        path: vec![PathSeg::Key("access_policies".into()), PathSeg::Index(i), PathSeg::Key("scope".into())],
                        message: "a namespace scope needs at least one namespace".into(),
                        help: Some("add `namespaces: [default]`, or use `type: cluster`".into()),
                    });
                }
            }
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let mut groups = p.kubernetes_groups;
        groups.sort();
        let policies = p
            .access_policies
            .into_iter()
            .map(|a| {
                let mut scope = a.scope.unwrap_or(Scope { kind: ScopeType::Cluster, namespaces: vec![] });
                scope.namespaces.sort();
                (policy_arn(&a.policy), scope)
            })
            .collect();
        let state = State {
            cluster: p.cluster,
            principal_arn: p.principal_arn.clone(),
            username: p.username,
            kubernetes_groups: groups,
            kind: p.kind.unwrap_or_else(|| "STANDARD".into()),
            access_policies: policies,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.principal_arn, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    fn attrs(&self, _ctx: &Ctx, desired: &Desired, live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("principal_arn".into(), Some(desired.name.clone()));
        a.insert("arn".into(), live.and_then(|l| l.attrs.get("arn").cloned()));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("cluster", "an access entry belongs to one cluster"),
            ("principal_arn", "an access entry is for one principal"),
            ("type", "EKS fixes an access entry's type when it is created"),
        ]
    }

    fn notes_after_create(&self, desired: &Desired) -> Vec<String> {
        let cluster = desired.state["cluster"].as_str().unwrap_or_default();
        crate::kube::described(cluster).map(|c| c.mode_note()).into_iter().collect()
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let s: State = config(&desired.state)?;
        let info = crate::kube::describe(ctx, &s.cluster).await?;
        if !info.uses_access_entries() {
            return Err(crate::Error::user(
                format!("cluster {} uses authentication mode CONFIG_MAP: it does not accept access entries", s.cluster),
                "switch the cluster to API_AND_CONFIG_MAP (aws eks update-cluster-config --access-config authenticationMode=API_AND_CONFIG_MAP), or use `eks_aws_auth_role`",
            ));
        }
        let eks = ctx.aws.eks();
        let addr = address(&s.cluster, &s.principal_arn);
        let entry = match eks.describe_access_entry().cluster_name(&s.cluster).principal_arn(&s.principal_arn).send().await {
            Ok(o) => o.access_entry,
            Err(e) => {
                let e = aws::error(e);
                if e.is("ResourceNotFoundException") {
                    return Ok(None);
                }
                return Err(e.at(addr, "DescribeAccessEntry"));
            }
        };
        let Some(entry) = entry else { return Ok(None) };
        let policies = eks
            .list_associated_access_policies()
            .cluster_name(&s.cluster)
            .principal_arn(&s.principal_arn)
            .send()
            .await
            .map_err(|e| aws::error(e).at(&addr, "ListAssociatedAccessPolicies"))?;
        let access_policies = policies
            .associated_access_policies()
            .iter()
            .filter_map(|p| {
                let scope = p.access_scope()?;
                let kind = if scope.r#type() == Some(&AccessScopeType::Namespace) { ScopeType::Namespace } else { ScopeType::Cluster };
                let mut namespaces = scope.namespaces().to_vec();
                namespaces.sort();
                Some((p.policy_arn()?.to_string(), Scope { kind, namespaces }))
            })
            .collect();
        let tags: BTreeMap<String, String> = entry.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
        let mut groups = entry.kubernetes_groups().to_vec();
        groups.sort();
        let state = State {
            cluster: s.cluster.clone(),
            principal_arn: entry.principal_arn().unwrap_or_default().to_string(),
            username: s.username.as_ref().and(entry.username().map(str::to_string)),
            kubernetes_groups: groups,
            kind: entry.r#type().unwrap_or("STANDARD").to_string(),
            access_policies,
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        if let Some(arn) = entry.access_entry_arn() {
            live.attrs.insert("arn".into(), arn.to_string());
        }
        live.notes.push(info.mode_note());
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let addr = address(&s.cluster, &s.principal_arn);
        let out = ctx
            .aws
            .eks()
            .create_access_entry()
            .cluster_name(&s.cluster)
            .principal_arn(&s.principal_arn)
            .set_username(s.username.clone())
            .set_kubernetes_groups(Some(s.kubernetes_groups.clone()))
            .r#type(&s.kind)
            .set_tags(Some(s.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws::error(e).at(&addr, "CreateAccessEntry"))?;
        try_join_all(s.access_policies.iter().map(|(arn, scope)| associate(ctx, &s, arn, scope))).await?;
        Ok(out.access_entry.and_then(|e| e.access_entry_arn).map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let eks = ctx.aws.eks();
        let addr = address(&s.cluster, &s.principal_arn);
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        if changed("kubernetes_groups") || changed("username") {
            eks.update_access_entry()
                .cluster_name(&s.cluster)
                .principal_arn(&s.principal_arn)
                .set_kubernetes_groups(Some(s.kubernetes_groups.clone()))
                .set_username(s.username.clone())
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "UpdateAccessEntry"))?;
        }
        if changed("access_policies") {
            // Associating again replaces the scope of an already associated policy.
            let set = s.access_policies.iter().filter(|(arn, scope)| l.access_policies.get(*arn) != Some(*scope));
            try_join_all(set.map(|(arn, scope)| associate(ctx, &s, arn, scope))).await?;
            let s = &s;
            let gone = l.access_policies.keys().filter(|arn| !s.access_policies.contains_key(*arn)).map(|arn| {
                let addr = addr.clone();
                async move {
                    eks.disassociate_access_policy()
                        .cluster_name(&s.cluster)
                        .principal_arn(&s.principal_arn)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| aws::error(e).at(addr, "DisassociateAccessPolicy"))
                }
            });
            try_join_all(gone).await?;
        }
        if changed("tags") {
            if let Some(arn) = live.attrs.get("arn") {
                let (set, remove) = tag_delta(&s.tags, &l.tags);
                if !set.is_empty() {
                    eks.tag_resource().resource_arn(arn).set_tags(Some(set.into_iter().collect())).send().await.map_err(|e| aws::error(e).at(&addr, "TagResource"))?;
                }
                if !remove.is_empty() {
                    eks.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.map_err(|e| aws::error(e).at(&addr, "UntagResource"))?;
                }
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let s: State = config(&desired.state)?;
        let r = ctx.aws.eks().delete_access_entry().cluster_name(&s.cluster).principal_arn(&s.principal_arn).send().await;
        aws::gone_ok(r, &["ResourceNotFoundException"], address(&s.cluster, &s.principal_arn), "DeleteAccessEntry")
    }
}

async fn associate(ctx: &Ctx, s: &State, arn: &str, scope: &Scope) -> Result<()> {
    let t = match scope.kind {
        ScopeType::Cluster => AccessScopeType::Cluster,
        ScopeType::Namespace => AccessScopeType::Namespace,
    };
    let scope = AccessScope::builder().r#type(t).set_namespaces(Some(scope.namespaces.clone())).build();
    ctx.aws
        .eks()
        .associate_access_policy()
        .cluster_name(&s.cluster)
        .principal_arn(&s.principal_arn)
        .policy_arn(arn)
        .access_scope(scope)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws::error(e).at(address(&s.cluster, &s.principal_arn), "AssociateAccessPolicy"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn system_groups_are_refused_at_their_position() {
        let e = EksAccessEntry
            .check(&json!({"cluster": "c", "principal_arn": "arn:aws:iam::1:role/r", "kubernetes_groups": ["deployers", "system:masters"]}))
            .unwrap_err();
        assert_eq!(e.path, vec![PathSeg::Key("kubernetes_groups".into()), PathSeg::Index(1)]);
        assert!(e.help.unwrap().contains("access_policies"));
    }

    #[test]
    fn short_policy_names_become_arns() {
        assert_eq!(policy_arn("AmazonEKSEditPolicy"), "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy");
    }
}
