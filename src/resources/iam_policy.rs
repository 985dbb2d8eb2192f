//! `iam_policy`: a customer-managed policy. A document change becomes a new default version (the
//! oldest non-default version is pruned at IAM's limit of five); delete detaches the policy
//! everywhere and removes its old versions first, as IAM requires.

use super::iam::{self, sdk_tags, NAME, POLICY};
use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct IamPolicy;

/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;

pub static SCHEMA: Schema = Schema {
    kind: "iam_policy",
    summary: "A customer-managed IAM policy.",
    notes: "A document change becomes a new default version; the oldest non-default version is pruned at IAM's limit of five. Destroy detaches the policy from every role, user and group first.",
    fields: &[
        field("name", text_matching(1, 128, NAME), "policy name").required().replace("IAM policies cannot be renamed"),
        field("path", text(1, 512), "policy path").default(Lit::Str("/")).replace("IAM cannot move a policy to another path"),
        field("description", text(0, 1000), "what the policy is for").replace("IAM cannot change a managed policy's description"),
        field("document", Ty::Doc(&POLICY), "the policy document").required(),
        TAGS,
    ],
    attributes: &[attr("name", "policy name"), attr("arn", "policy ARN (with its path)")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 2,
    not_found: &["NoSuchEntity"],
    already_exists: &["EntityAlreadyExists"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    path: String,
    description: Option<String>,
    document: Value,
    tags: Tags,
}

fn arn(ctx: &Ctx, s: &State) -> String {
    ctx.global_arn("iam", &format!("policy{}{}", s.path, s.name))
}

fn live_arn(op: &Op<'_>, live: &Live<State>) -> String {
    live.attrs.get("arn").cloned().unwrap_or_else(|| arn(op, &live.state))
}

#[async_trait]
impl Resource for IamPolicy {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, _ctx: &Ctx, s: &mut State) {
        s.path = iam::normalize_path(&s.path);
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(arn(ctx, s)));
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let details = reads.iam(&ctx.aws).await?;
        let wanted: BTreeSet<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
        // The account details carry no policy tags: whose a policy is takes one call per
        // customer-managed policy (in parallel).
        let all = aws::reads::each(ctx, "iam", details.policies.clone(), |p| async move {
            let arn = p.arn().unwrap_or_default().to_string();
            let out = ctx.aws.iam().list_policy_tags().policy_arn(&arn).send().await.op("ListPolicyTags")?;
            Ok((p, out.tags.into_iter().map(|t| (t.key, t.value)).collect::<Tags>()))
        })
        .await?;
        Ok(all
            .into_iter()
            .filter(|(p, tags)| wanted.contains(p.policy_name().unwrap_or_default()) || tags.get(crate::contract::OWNER_TAG) == Some(&ctx.stack))
            .map(|(p, tags)| {
                let default = p.policy_version_list().iter().find(|v| v.is_default_version()).and_then(|v| v.document());
                let state = State {
                    name: p.policy_name().unwrap_or_default().to_string(),
                    path: p.path().unwrap_or("/").to_string(),
                    description: p.description().map(str::to_string),
                    document: iam::document(default),
                    tags,
                };
                Live::new(state).attr("arn", p.arn().unwrap_or_default())
            })
            .collect())
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let out = op
            .aws
            .iam()
            .create_policy()
            .policy_name(&s.name)
            .path(&s.path)
            .set_description(s.description.clone())
            .policy_document(s.document.to_string())
            .set_tags(Some(sdk_tags(&s.tags)))
            .send()
            .await
            .op("CreatePolicy")?;
        Ok(out.policy.and_then(|p| p.arn).map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        if s.document == live.state.document {
            return Ok(());
        }
        let (iam, arn) = (op.aws.iam(), live_arn(op, live));
        let versions = list_versions(op, &arn).await?;
        if versions.len() >= MAX_VERSIONS {
            // Versions come newest first; prune the oldest that is not the default.
            if let Some((oldest, _)) = versions.iter().rev().find(|(_, default)| !default) {
                iam.delete_policy_version().policy_arn(&arn).version_id(oldest).send().await.op("DeletePolicyVersion")?;
            }
        }
        iam.create_policy_version().policy_arn(&arn).policy_document(s.document.to_string()).set_as_default(true).send().await.op("CreatePolicyVersion")?;
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let (iam, arn) = (op.aws.iam(), live_arn(op, live));
        if !set.is_empty() {
            iam.tag_policy().policy_arn(&arn).set_tags(Some(sdk_tags(set))).send().await.op("TagPolicy")?;
        }
        if !remove.is_empty() {
            iam.untag_policy().policy_arn(&arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagPolicy")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        let (iam, arn) = (op.aws.iam(), live_arn(op, live));
        // Detach everywhere: IAM refuses to delete an attached policy.
        let entities = iam.list_entities_for_policy().policy_arn(&arn).send().await.op("ListEntitiesForPolicy")?;
        let gone = |r: Result<()>| aws::absent(r, &["NoSuchEntity"]).map(|_| ());
        let arn = arn.as_str();
        let roles = entities
            .policy_roles()
            .iter()
            .filter_map(|r| r.role_name())
            .map(|r| async move { gone(iam.detach_role_policy().role_name(r).policy_arn(arn).send().await.op("DetachRolePolicy").map(|_| ())) });
        let users = entities
            .policy_users()
            .iter()
            .filter_map(|u| u.user_name())
            .map(|u| async move { gone(iam.detach_user_policy().user_name(u).policy_arn(arn).send().await.op("DetachUserPolicy").map(|_| ())) });
        let groups = entities
            .policy_groups()
            .iter()
            .filter_map(|g| g.group_name())
            .map(|g| async move { gone(iam.detach_group_policy().group_name(g).policy_arn(arn).send().await.op("DetachGroupPolicy").map(|_| ())) });
        futures::try_join!(try_join_all(roles), try_join_all(users), try_join_all(groups))?;
        let versions = list_versions(op, arn).await?;
        try_join_all(
            versions.iter().filter(|(_, default)| !default).map(|(v, _)| async move {
                gone(iam.delete_policy_version().policy_arn(arn).version_id(v).send().await.op("DeletePolicyVersion").map(|_| ()))
            }),
        )
        .await?;
        iam.delete_policy().policy_arn(arn).send().await.op("DeletePolicy").map(|_| ())
    }
}

/// (version id, is default), newest first.
async fn list_versions(op: &Op<'_>, policy_arn: &str) -> Result<Vec<(String, bool)>> {
    let out = op.aws.iam().list_policy_versions().policy_arn(policy_arn).send().await.op("ListPolicyVersions")?;
    let mut v: Vec<(String, bool, i64)> = out
        .versions()
        .iter()
        .map(|v| (v.version_id().unwrap_or_default().to_string(), v.is_default_version(), v.create_date().map(|d| d.secs()).unwrap_or(0)))
        .collect();
    // Newest first; version ids (v1, v2, ...) break ties when dates are equal.
    v.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| version_number(&b.0).cmp(&version_number(&a.0))));
    Ok(v.into_iter().map(|(id, d, _)| (id, d)).collect())
}

fn version_number(id: &str) -> u64 {
    id.trim_start_matches('v').parse().unwrap_or(0)
}
