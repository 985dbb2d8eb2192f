//! `iam_role`: a service role (trust policy, inline and managed policies).

use super::iam::{self, sdk_tags, NAME, POLICY};
use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags, OWNER_TAG};
use crate::Result;
use async_trait::async_trait;
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct IamRole;

pub static SCHEMA: Schema = Schema {
    kind: "iam_role",
    summary: "An IAM role: trust policy, inline policies and managed policies.",
    notes: "Inline and managed policies are kept exactly: ones added outside the stack are removed (the plan lists them).",
    fields: &[
        field("name", text_matching(1, 64, NAME), "role name").required().replace("IAM roles cannot be renamed"),
        field("path", text(1, 512), "role path").default(Lit::Str("/")).replace("IAM cannot move a role to another path"),
        field("description", text(0, 1000), "what the role is for"),
        field("max_session_duration", Ty::Int(3600, 43200), "longest session, in seconds"),
        field("trust_policy", Ty::Doc(&POLICY), "who may assume the role").required(),
        field("inline_policies", Ty::Map(&Ty::Doc(&POLICY)), "policy name -> document").default(Lit::EmptyMap),
        field(
            "managed_policies",
            Ty::Set(&STRING),
            "AWS-managed by name (`AmazonEC2ContainerRegistryFullAccess`, `service-role/X`) or any ARN (`${iam_policy.x.arn}`)",
        )
        .default(Lit::EmptyList),
        TAGS,
    ],
    attributes: &[attr("name", "role name"), attr("arn", "role ARN (with its path)"), attr_after_create("unique_id", "IAM's id of the role")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 3,
    not_found: &["NoSuchEntity"],
    already_exists: &["EntityAlreadyExists"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    path: String,
    description: Option<String>,
    max_session_duration: Option<i32>,
    trust_policy: Value,
    inline_policies: BTreeMap<String, Value>,
    /// ARNs, sorted.
    managed_policies: Vec<String>,
    tags: Tags,
}

#[async_trait]
impl Resource for IamRole {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, ctx: &Ctx, s: &mut State) {
        s.path = iam::normalize_path(&s.path);
        s.managed_policies = s.managed_policies.iter().map(|m| iam::managed_policy_arn(&ctx.partition, m)).collect();
        s.managed_policies.sort();
        s.managed_policies.dedup();
    }

    fn attrs(&self, ctx: &Ctx, s: &State, live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(ctx.global_arn("iam", &format!("role{}{}", s.path, s.name))));
        a.insert("unique_id".into(), live.and_then(|l| l.attrs.get("unique_id").cloned()));
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let details = reads.iam(&ctx.aws).await?;
        let wanted: BTreeMap<&str, &State> = wanted.iter().map(|w| (w.name.as_str(), w)).collect();
        let relevant: Vec<_> = details
            .roles
            .iter()
            .filter(|r| wanted.contains_key(r.role_name().unwrap_or_default()) || r.tags().iter().any(|t| t.key() == OWNER_TAG && t.value() == ctx.stack))
            .collect();
        // Description and session length are not in the account details: read them only for the
        // roles whose stack entry sets them (unset fields are not compared).
        let read_more = |r: &aws_sdk_iam::types::RoleDetail| {
            wanted.get(r.role_name().unwrap_or_default()).is_some_and(|w| w.description.is_some() || w.max_session_duration.is_some())
        };
        let extras = if relevant.iter().any(|r| read_more(r)) { Some(reads.role_extras(&ctx.aws).await?) } else { None };
        relevant
            .into_iter()
            .map(|r| {
                let name = r.role_name().unwrap_or_default().to_string();
                let extra = extras.filter(|_| read_more(r)).and_then(|e| e.get(&name)).cloned().unwrap_or_default();
                let (description, max_session_duration) = (extra.description, extra.max_session_duration);
                let mut managed: Vec<String> = r.attached_managed_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect();
                managed.sort();
                let state = State {
                    name,
                    path: r.path().unwrap_or("/").to_string(),
                    description,
                    max_session_duration,
                    trust_policy: iam::document(r.assume_role_policy_document()),
                    inline_policies: r
                        .role_policy_list()
                        .iter()
                        .map(|p| (p.policy_name().unwrap_or_default().to_string(), iam::document(p.policy_document())))
                        .collect(),
                    managed_policies: managed,
                    tags: r.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect(),
                };
                Ok(Live::new(state).attr("arn", r.arn().unwrap_or_default()).attr("unique_id", r.role_id().unwrap_or_default()))
            })
            .collect()
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let out = op
            .aws
            .iam()
            .create_role()
            .role_name(&s.name)
            .path(&s.path)
            .assume_role_policy_document(s.trust_policy.to_string())
            .set_description(s.description.clone())
            .set_max_session_duration(s.max_session_duration)
            .set_tags(Some(sdk_tags(&s.tags)))
            .send()
            .await
            .op("CreateRole")?;
        let puts = s.inline_policies.iter().map(|(n, d)| put_inline(op, &s.name, n, d));
        let attaches = s.managed_policies.iter().map(|arn| attach(op, &s.name, arn));
        futures::try_join!(try_join_all(puts), try_join_all(attaches))?;
        let mut attrs = BTreeMap::new();
        if let Some(r) = out.role {
            attrs.insert("unique_id".to_string(), r.role_id);
            attrs.insert("arn".to_string(), r.arn);
        }
        Ok(attrs)
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        let (iam, l) = (op.aws.iam(), &live.state);
        if s.trust_policy != l.trust_policy {
            iam.update_assume_role_policy().role_name(&s.name).policy_document(s.trust_policy.to_string()).send().await.op("UpdateAssumeRolePolicy")?;
        }
        if (&s.description, s.max_session_duration) != (&l.description, l.max_session_duration) {
            iam.update_role()
                .role_name(&s.name)
                .set_description(s.description.clone())
                .set_max_session_duration(s.max_session_duration)
                .send()
                .await
                .op("UpdateRole")?;
        }
        let puts = s.inline_policies.iter().filter(|(n, d)| l.inline_policies.get(*n) != Some(*d)).map(|(n, d)| put_inline(op, &s.name, n, d));
        let dels = l.inline_policies.keys().filter(|n| !s.inline_policies.contains_key(*n)).map(|n| delete_inline(op, &s.name, n));
        let attaches = s.managed_policies.iter().filter(|a| !l.managed_policies.contains(a)).map(|a| attach(op, &s.name, a));
        let detaches = l.managed_policies.iter().filter(|a| !s.managed_policies.contains(a)).map(|a| detach(op, &s.name, a));
        futures::try_join!(try_join_all(puts), try_join_all(dels), try_join_all(attaches), try_join_all(detaches))?;
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let (iam, name) = (op.aws.iam(), &live.state.name);
        if !set.is_empty() {
            iam.tag_role().role_name(name).set_tags(Some(sdk_tags(set))).send().await.op("TagRole")?;
        }
        if !remove.is_empty() {
            iam.untag_role().role_name(name).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagRole")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        let name = &live.state.name;
        // IAM refuses to delete a role that still has policies: remove what the plan read...
        detach_all(op, name, live.state.inline_policies.keys().cloned().collect(), live.state.managed_policies.clone()).await?;
        match op.aws.iam().delete_role().role_name(name).send().await.op("DeleteRole") {
            Err(e) if e.code() == Some("DeleteConflict") => {
                // ...and, if something was attached since, read what is attached now and go again.
                let (inline, managed) = futures::try_join!(list_inline(op, name), list_attached(op, name))?;
                detach_all(op, name, inline, managed).await?;
                op.aws
                    .iam()
                    .delete_role()
                    .role_name(name)
                    .send()
                    .await
                    .op("DeleteRole")
                    .map_err(|e| e.with_help("the role is still in use (e.g. by an instance profile); remove that first"))?;
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }
}

async fn detach_all(op: &Op<'_>, role: &str, inline: Vec<String>, managed: Vec<String>) -> Result<()> {
    let dels = inline.iter().map(|n| delete_inline(op, role, n));
    let detaches = managed.iter().map(|a| detach(op, role, a));
    futures::try_join!(try_join_all(dels), try_join_all(detaches))?;
    Ok(())
}

async fn list_inline(op: &Op<'_>, role: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = op.aws.iam().list_role_policies().role_name(role).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page.op("ListRolePolicies")?.policy_names);
    }
    Ok(names)
}

async fn list_attached(op: &Op<'_>, role: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = op.aws.iam().list_attached_role_policies().role_name(role).into_paginator().send();
    while let Some(page) = pages.next().await {
        arns.extend(page.op("ListAttachedRolePolicies")?.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)));
    }
    Ok(arns)
}

async fn put_inline(op: &Op<'_>, role: &str, name: &str, doc: &Value) -> Result<()> {
    op.aws.iam().put_role_policy().role_name(role).policy_name(name).policy_document(doc.to_string()).send().await.op("PutRolePolicy").map(|_| ())
}

async fn delete_inline(op: &Op<'_>, role: &str, name: &str) -> Result<()> {
    let r = op.aws.iam().delete_role_policy().role_name(role).policy_name(name).send().await.op("DeleteRolePolicy");
    aws::absent(r, &["NoSuchEntity"]).map(|_| ())
}

async fn attach(op: &Op<'_>, role: &str, arn: &str) -> Result<()> {
    match op.aws.iam().attach_role_policy().role_name(role).policy_arn(arn).send().await.op("AttachRolePolicy") {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("NoSuchEntity") => {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            Err(e.with_help(format!(
                "no managed policy {arn}: check the spelling of `{name}` (AWS-managed names are case-sensitive, e.g. AmazonEC2ContainerRegistryFullAccess; some live under a path such as service-role/{name})"
            )))
        }
        Err(e) => Err(e),
    }
}

async fn detach(op: &Op<'_>, role: &str, arn: &str) -> Result<()> {
    let r = op.aws.iam().detach_role_policy().role_name(role).policy_arn(arn).send().await.op("DetachRolePolicy");
    aws::absent(r, &["NoSuchEntity"]).map(|_| ())
}
