//! `eks_access_entry`: EKS access entries, the API-managed replacement for aws-auth, with access
//! policies scoped to the cluster or to namespaces.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct EksAccessEntry;

const SCOPE: &[Field] = &[
    field("type", Ty::Enum(&["cluster", "namespace"]), "where the policy applies").required(),
    field("namespaces", Ty::Set(&STRING), "for `namespace`: which ones").default(Lit::EmptyList),
];

const POLICY: &[Field] = &[
    field("policy", STRING, "by name (`AmazonEKSEditPolicy`) or ARN").required(),
    field("scope", Ty::Struct(SCOPE), "`{type: cluster}` or `{type: namespace, namespaces: [...]}`"),
];

pub static SCHEMA: Schema = Schema {
    kind: "eks_access_entry",
    summary: "An EKS access entry: cluster access for an IAM principal without aws-auth.",
    notes: "Refused at plan time, with the reason, on a cluster whose authentication mode is `CONFIG_MAP`. `examples/eks-devops-access-entries.yaml` grants the deploy stage's role `AmazonEKSEditPolicy` in the `default` namespace this way, instead of `system:masters` through aws-auth.",
    fields: &[
        field("cluster", STRING, "EKS cluster name").required().replace("an access entry belongs to one cluster"),
        field("principal_arn", STRING, "the IAM role (or user) ARN").required().replace("an access entry is for one principal"),
        field("username", text(1, 256), "Kubernetes user name"),
        field("kubernetes_groups", Ty::Set(&STRING), "Kubernetes groups (never `system:*`: EKS rejects them)").default(Lit::EmptyList),
        field("type", Ty::Enum(&["STANDARD", "EC2", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX"]), "entry type")
            .default(Lit::Str("STANDARD"))
            .replace("EKS fixes an access entry's type when it is created"),
        field("access_policies", Ty::Keyed(POLICY, "policy"), "access policies and their scope").default(Lit::EmptyList),
        TAGS,
    ],
    attributes: &[attr("principal_arn", "the principal"), attr_after_create("arn", "access entry ARN")],
    identity: &["cluster", "principal_arn"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 9,
    not_found: &["ResourceNotFoundException"],
    already_exists: &["ResourceInUseException"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    cluster: String,
    principal_arn: String,
    username: Option<String>,
    kubernetes_groups: Vec<String>,
    #[serde(rename = "type")]
    kind: String,
    access_policies: Vec<Policy>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Policy {
    policy: String,
    scope: Option<Scope>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Scope {
    #[serde(rename = "type")]
    kind: String,
    namespaces: Vec<String>,
}

fn policy_arn(p: &str) -> String {
    if p.starts_with("arn:") {
        p.to_string()
    } else {
        format!("arn:aws:eks::aws:cluster-access-policy/{p}")
    }
}

/// `.../role/ACCOUNT/NAME/ID` of an access entry ARN -> `(ACCOUNT, NAME)`, to match principals.
fn entry_principal(arn: &str) -> Option<(String, String)> {
    let mut parts = arn.split('/').skip(2);
    let (kind, account, name) = (parts.next()?, parts.next()?, parts.next()?);
    (kind == "role" || kind == "user").then(|| (account.to_string(), name.to_string()))
}

fn principal_key(arn: &str) -> Option<(String, String)> {
    let account = arn.split(':').nth(4)?.to_string();
    Some((account, arn.rsplit('/').next()?.to_string()))
}

#[async_trait]
impl Resource for EksAccessEntry {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn check(&self, props: &Value) -> Vec<PropError> {
        let mut out = Vec::new();
        let refuse = |path: Vec<PathSeg>, what: &str| {
            PropError::at(
                path,
                format!("{what} starts with `system:`, which EKS reserves and refuses in access entries"),
                "grant the permissions with `access_policies` (e.g. AmazonEKSClusterAdminPolicy or AmazonEKSEditPolicy) instead of a system: group",
            )
        };
        for (i, g) in props["kubernetes_groups"].as_array().into_iter().flatten().enumerate() {
            if let Some(g) = g.as_str().filter(|g| g.starts_with("system:")) {
                out.push(refuse(vec![PathSeg::Key("kubernetes_groups".into()), PathSeg::Index(i)], &format!("group `{g}`")));
            }
        }
        if let Some(u) = props["username"].as_str().filter(|u| u.starts_with("system:")) {
            out.push(refuse(keys(&["username"]), &format!("username `{u}`")));
        }
        for (i, a) in props["access_policies"].as_array().into_iter().flatten().enumerate() {
            if a["scope"]["type"] == "namespace" && a["scope"]["namespaces"].as_array().is_none_or(|n| n.is_empty()) {
                out.push(PropError::at(
                    vec![PathSeg::Key("access_policies".into()), PathSeg::Index(i), PathSeg::Key("scope".into())],
                    "a namespace scope needs at least one namespace",
                    "add `namespaces: [default]`, or use `type: cluster`",
                ));
            }
        }
        out
    }

    fn normalize(&self, _ctx: &Ctx, s: &mut State) {
        s.kubernetes_groups.sort();
        for p in &mut s.access_policies {
            p.policy = policy_arn(&p.policy);
            let scope = p.scope.get_or_insert_with(|| Scope { kind: "cluster".into(), namespaces: vec![] });
            scope.namespaces.sort();
        }
        s.access_policies.sort();
    }

    fn attrs(&self, _ctx: &Ctx, s: &State, live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("principal_arn".into(), Some(s.principal_arn.clone()));
        a.insert("arn".into(), live.and_then(|l| l.attrs.get("arn").cloned()));
        a
    }

    fn notes(&self, ctx: &Ctx, s: &State) -> Vec<String> {
        ctx.clusters.described(&s.cluster).map(|c| c.mode_note()).into_iter().collect()
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let owned: BTreeMap<String, Tags> =
            reads.tagged(&ctx.aws, "eks").await?.into_iter().filter(|t| t.arn.contains(":access-entry/")).map(|t| (t.arn, t.tags)).collect();
        let mut clusters: BTreeSet<String> = wanted.iter().map(|w| w.cluster.clone()).collect();
        clusters.extend(owned.keys().filter_map(|a| a.split(":access-entry/").nth(1)?.split('/').next().map(str::to_string)));
        let wanted_keys: BTreeSet<(&str, &str)> = wanted.iter().map(|w| (w.cluster.as_str(), w.principal_arn.as_str())).collect();
        let owned_principals: BTreeSet<(String, String)> = owned.keys().filter_map(|a| entry_principal(a)).collect();
        let mut candidates = Vec::new();
        for cluster in &clusters {
            let info = ctx.clusters.describe(&ctx.aws, &ctx.region, cluster).await?;
            if !info.uses_access_entries() {
                if wanted.iter().any(|w| &w.cluster == cluster) {
                    return Err(crate::Error::user(
                        format!("cluster {cluster} uses authentication mode CONFIG_MAP: it does not accept access entries"),
                        "switch the cluster to API_AND_CONFIG_MAP (aws eks update-cluster-config --access-config authenticationMode=API_AND_CONFIG_MAP), or use `eks_aws_auth_role`",
                    ));
                }
                continue;
            }
            let mut pages = ctx.aws.eks().list_access_entries().cluster_name(cluster).into_paginator().send();
            while let Some(page) = pages.next().await {
                for p in page.op("ListAccessEntries")?.access_entries() {
                    let relevant = wanted_keys.contains(&(cluster.as_str(), p.as_str())) || principal_key(p).is_some_and(|k| owned_principals.contains(&k));
                    if relevant {
                        candidates.push((cluster.clone(), p.clone(), info.mode_note()));
                    }
                }
            }
        }
        let found = aws::reads::each(ctx, "eks", candidates, |(cluster, principal, note)| async move {
            let eks = ctx.aws.eks();
            let (entry, policies) = futures::try_join!(
                async { eks.describe_access_entry().cluster_name(&cluster).principal_arn(&principal).send().await.op("DescribeAccessEntry") },
                async {
                    eks.list_associated_access_policies().cluster_name(&cluster).principal_arn(&principal).send().await.op("ListAssociatedAccessPolicies")
                }
            )?;
            let Some(entry) = entry.access_entry else { return Ok(None) };
            let mut access_policies: Vec<Policy> = policies
                .associated_access_policies()
                .iter()
                .filter_map(|p| {
                    let scope = p.access_scope()?;
                    let kind = if scope.r#type() == Some(&AccessScopeType::Namespace) { "namespace" } else { "cluster" };
                    let mut namespaces = scope.namespaces().to_vec();
                    namespaces.sort();
                    Some(Policy { policy: p.policy_arn()?.to_string(), scope: Some(Scope { kind: kind.into(), namespaces }) })
                })
                .collect();
            access_policies.sort();
            let mut groups = entry.kubernetes_groups().to_vec();
            groups.sort();
            let state = State {
                cluster: cluster.clone(),
                principal_arn: entry.principal_arn().unwrap_or_default().to_string(),
                username: entry.username().map(str::to_string),
                kubernetes_groups: groups,
                kind: entry.r#type().unwrap_or("STANDARD").to_string(),
                access_policies,
                tags: entry.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
            };
            let mut live = Live::new(state).note(note);
            if let Some(arn) = entry.access_entry_arn() {
                live = live.attr("arn", arn);
            }
            Ok(Some(live))
        })
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let out = op
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
            .op("CreateAccessEntry")?;
        try_join_all(s.access_policies.iter().map(|p| associate(op, s, p))).await?;
        Ok(out.access_entry.and_then(|e| e.access_entry_arn).map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        let (eks, l) = (op.aws.eks(), &live.state);
        if (&s.kubernetes_groups, &s.username) != (&l.kubernetes_groups, &l.username) {
            eks.update_access_entry()
                .cluster_name(&s.cluster)
                .principal_arn(&s.principal_arn)
                .set_kubernetes_groups(Some(s.kubernetes_groups.clone()))
                .set_username(s.username.clone())
                .send()
                .await
                .op("UpdateAccessEntry")?;
        }
        // Associating again replaces the scope of an already associated policy.
        try_join_all(s.access_policies.iter().filter(|p| !l.access_policies.contains(p)).map(|p| associate(op, s, p))).await?;
        let kept: BTreeSet<&str> = s.access_policies.iter().map(|p| p.policy.as_str()).collect();
        try_join_all(l.access_policies.iter().filter(|p| !kept.contains(p.policy.as_str())).map(|p| async {
            eks.disassociate_access_policy()
                .cluster_name(&s.cluster)
                .principal_arn(&s.principal_arn)
                .policy_arn(&p.policy)
                .send()
                .await
                .op("DisassociateAccessPolicy")
                .map(|_| ())
        }))
        .await?;
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let Some(arn) = live.attrs.get("arn") else { return Ok(()) };
        let eks = op.aws.eks();
        if !set.is_empty() {
            eks.tag_resource().resource_arn(arn).set_tags(Some(set.clone().into_iter().collect())).send().await.op("TagResource")?;
        }
        if !remove.is_empty() {
            eks.untag_resource().resource_arn(arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagResource")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        let s = &live.state;
        op.aws.eks().delete_access_entry().cluster_name(&s.cluster).principal_arn(&s.principal_arn).send().await.op("DeleteAccessEntry").map(|_| ())
    }
}

async fn associate(op: &Op<'_>, s: &State, p: &Policy) -> Result<()> {
    let scope = p.scope.clone().unwrap_or(Scope { kind: "cluster".into(), namespaces: vec![] });
    let t = if scope.kind == "namespace" { AccessScopeType::Namespace } else { AccessScopeType::Cluster };
    let scope = AccessScope::builder().r#type(t).set_namespaces(Some(scope.namespaces)).build();
    op.aws
        .eks()
        .associate_access_policy()
        .cluster_name(&s.cluster)
        .principal_arn(&s.principal_arn)
        .policy_arn(&p.policy)
        .access_scope(scope)
        .send()
        .await
        .op("AssociateAccessPolicy")
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn system_groups_are_refused_at_their_position() {
        let e = EksAccessEntry.check(&json!({"cluster": "c", "principal_arn": "arn:aws:iam::1:role/r", "kubernetes_groups": ["deployers", "system:masters"]}));
        assert_eq!(e[0].path, vec![PathSeg::Key("kubernetes_groups".into()), PathSeg::Index(1)]);
        assert!(e[0].help.as_deref().unwrap().contains("access_policies"));
    }

    #[test]
    fn short_policy_names_become_arns_and_entries_match_principals() {
        assert_eq!(policy_arn("AmazonEKSEditPolicy"), "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy");
        let entry = "arn:aws:eks:us-east-1:1:access-entry/c/role/1/K/ab12";
        assert_eq!(entry_principal(entry), principal_key("arn:aws:iam::1:role/team/K"));
    }
}
