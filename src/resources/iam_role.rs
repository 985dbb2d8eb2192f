//! `iam_role`: a role with its trust policy, inline policies and managed-policy attachments, all kept
//! exactly as declared (extra live inline policies are deleted, extra attachments detached).
//!
//! ```yaml
//! iam_role.kubectl:
//!   name: EksCodeBuildKubectlRole
//!   path: /                        # fixed at creation
//!   description: ...
//!   max_session_duration: 3600
//!   trust_policy: { file: policies/kubectl-role-trust.json }
//!   inline_policies: { eks-describe: { file: policies/eks-describe.json } }
//!   managed_policies: [AmazonEC2ContainerRegistryFullAccess, "${iam_policy.x.arn}"]
//! ```

use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::policy::{canonical, parse_iam_document};
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct IamRole;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    max_session_duration: Option<i32>,
    trust_policy: Value,
    #[serde(default)]
    inline_policies: BTreeMap<String, Value>,
    #[serde(default)]
    managed_policies: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    path: String,
    description: Option<String>,
    max_session_duration: Option<i32>,
    trust_policy: Value,
    inline_policies: BTreeMap<String, Value>,
    /// Sorted ARNs: order in the stack is not a difference.
    managed_policies: Vec<String>,
    tags: BTreeMap<String, String>,
}

/// `AmazonEC2ContainerRegistryFullAccess` or `service-role/X` → the AWS-managed policy's ARN; ARNs
/// (e.g. a reference to a customer-managed policy) are kept.
pub fn managed_policy_arn(partition: &str, p: &str) -> String {
    if p.starts_with("arn:") || p == crate::stack::interp::UNKNOWN {
        p.to_string()
    } else {
        format!("arn:{partition}:iam::aws:policy/{}", p.trim_start_matches('/'))
    }
}

pub(crate) fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| crate::Error::user(e.to_string(), "check the tags")))
        .collect()
}

pub(crate) fn normalize_path(p: Option<&str>) -> String {
    match p {
        None | Some("") | Some("/") => "/".to_string(),
        Some(p) => {
            let p = if p.starts_with('/') { p.to_string() } else { format!("/{p}") };
            if p.ends_with('/') {
                p
            } else {
                format!("{p}/")
            }
        }
    }
}

fn address(name: &str) -> String {
    format!("iam_role {name}")
}

#[async_trait]
impl Kind for IamRole {
    fn kind(&self) -> &'static str {
        "iam_role"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn", "unique_id"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        let at = |k: &str| vec![PathSeg::Key(k.to_string())];
        if !super::is_interpolated(&p.name)
            && (p.name.is_empty() || p.name.len() > 64 || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)))
        {
            return Err(PropError { path: at("name"), message: format!("invalid IAM role name `{}`", p.name), help: Some("use 1-64 letters, digits or +=,.@_-".into()) });
        }
        if let Some(d) = p.max_session_duration {
            if !(3600..=43200).contains(&d) {
                return Err(PropError { path: at("max_session_duration"), message: format!("{d} is out of range"), help: Some("IAM allows 3600 to 43200 seconds".into()) });
            }
        }
        for (field, doc) in std::iter::once(("trust_policy".to_string(), &p.trust_policy)).chain(p.inline_policies.iter().map(|(k, v)| (k.clone(), v))) {
            if doc.get("Statement").is_none() {
                let path = if field == "trust_policy" { at("trust_policy") } else { vec![PathSeg::Key("inline_policies".into()), PathSeg::Key(field.clone())] };
                return Err(PropError { path, message: format!("policy document `{field}` has no `Statement`"), help: Some("a policy document looks like {\"Version\": \"2012-10-17\", \"Statement\": [...]}".into()) });
            }
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let mut managed: Vec<String> = p.managed_policies.iter().map(|m| managed_policy_arn(&ctx.partition, m)).collect();
        managed.sort();
        managed.dedup();
        let state = State {
            name: p.name.clone(),
            path: normalize_path(p.path.as_deref()),
            description: p.description,
            max_session_duration: p.max_session_duration,
            trust_policy: canonical(&p.trust_policy),
            inline_policies: p.inline_policies.iter().map(|(k, v)| (k.clone(), canonical(v))).collect(),
            managed_policies: managed,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, live: Option<&Live>) -> Attrs {
        let path = desired.state["path"].as_str().unwrap_or("/");
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), Some(ctx.global_arn("iam", &format!("role{path}{}", desired.name))));
        a.insert("unique_id".into(), live.and_then(|l| l.attrs.get("unique_id").cloned()));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[("name", "IAM roles cannot be renamed"), ("path", "IAM cannot move a role to another path")]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let iam = ctx.aws.iam();
        let name = &desired.name;
        let role = match iam.get_role().role_name(name).send().await {
            Ok(o) => o.role,
            Err(e) => {
                let e = aws::error(e);
                if e.is("NoSuchEntity") {
                    return Ok(None);
                }
                return Err(e.at(address(name), "GetRole"));
            }
        };
        let Some(role) = role else { return Ok(None) };
        let (inline, managed) = futures::try_join!(read_inline(ctx, name), read_attached(ctx, name))?;
        let tags: BTreeMap<String, String> = role.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
        let trust = role
            .assume_role_policy_document()
            .and_then(|d| parse_iam_document(d).ok())
            .map(|d| canonical(&d))
            .unwrap_or(Value::Null);
        let state = State {
            name: role.role_name().to_string(),
            path: role.path().to_string(),
            description: role.description().map(str::to_string),
            max_session_duration: role.max_session_duration(),
            trust_policy: trust,
            inline_policies: inline,
            managed_policies: managed,
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        live.attrs.insert("unique_id".into(), role.role_id().to_string());
        live.attrs.insert("arn".into(), role.arn().to_string());
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let iam = ctx.aws.iam();
        // Tagged at creation: a crash right after leaves a role the next plan knows is ours.
        let out = iam
            .create_role()
            .role_name(&s.name)
            .path(&s.path)
            .assume_role_policy_document(s.trust_policy.to_string())
            .set_description(s.description.clone())
            .set_max_session_duration(s.max_session_duration)
            .set_tags(Some(sdk_tags(&s.tags)?))
            .send()
            .await
            .map_err(|e| aws::error(e).at(address(&s.name), "CreateRole"))?;
        let puts = s.inline_policies.iter().map(|(n, d)| put_inline(ctx, &s.name, n, d));
        let attaches = s.managed_policies.iter().map(|arn| attach(ctx, &s.name, arn));
        futures::try_join!(try_join_all(puts), try_join_all(attaches))?;
        let mut attrs = BTreeMap::new();
        if let Some(r) = out.role {
            attrs.insert("unique_id".to_string(), r.role_id);
            attrs.insert("arn".to_string(), r.arn);
        }
        Ok(attrs)
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let iam = ctx.aws.iam();
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        let addr = address(&s.name);
        if changed("trust_policy") {
            iam.update_assume_role_policy()
                .role_name(&s.name)
                .policy_document(s.trust_policy.to_string())
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "UpdateAssumeRolePolicy"))?;
        }
        if changed("description") || changed("max_session_duration") {
            iam.update_role()
                .role_name(&s.name)
                .set_description(s.description.clone())
                .set_max_session_duration(s.max_session_duration)
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "UpdateRole"))?;
        }
        if changed("inline_policies") {
            let puts = s.inline_policies.iter().filter(|(n, d)| l.inline_policies.get(*n) != Some(*d)).map(|(n, d)| put_inline(ctx, &s.name, n, d));
            let dels = l.inline_policies.keys().filter(|n| !s.inline_policies.contains_key(*n)).map(|n| delete_inline(ctx, &s.name, n));
            futures::try_join!(try_join_all(puts), try_join_all(dels))?;
        }
        if changed("managed_policies") {
            let attaches = s.managed_policies.iter().filter(|a| !l.managed_policies.contains(a)).map(|a| attach(ctx, &s.name, a));
            let detaches = l.managed_policies.iter().filter(|a| !s.managed_policies.contains(a)).map(|a| detach(ctx, &s.name, a));
            futures::try_join!(try_join_all(attaches), try_join_all(detaches))?;
        }
        if changed("tags") {
            let (set, remove) = tag_delta(&s.tags, &l.tags);
            if !set.is_empty() {
                iam.tag_role().role_name(&s.name).set_tags(Some(sdk_tags(&set)?)).send().await.map_err(|e| aws::error(e).at(&addr, "TagRole"))?;
            }
            if !remove.is_empty() {
                iam.untag_role().role_name(&s.name).set_tag_keys(Some(remove)).send().await.map_err(|e| aws::error(e).at(&addr, "UntagRole"))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let name = &desired.name;
        // Re-read what is attached now: IAM refuses to delete a role that still has policies.
        let (inline, managed) = match futures::try_join!(read_inline(ctx, name), read_attached(ctx, name)) {
            Ok(v) => v,
            Err(e) if e.aws_code() == Some("NoSuchEntity") => return Ok(()),
            Err(e) => return Err(e),
        };
        let dels = inline.keys().map(|n| delete_inline(ctx, name, n));
        let detaches = managed.iter().map(|a| detach(ctx, name, a));
        futures::try_join!(try_join_all(dels), try_join_all(detaches))?;
        match ctx.aws.iam().delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = aws::error(e);
                if e.is("NoSuchEntity") {
                    Ok(())
                } else if e.is("DeleteConflict") {
                    Err(e.at(address(name), "DeleteRole").with_help("the role is still in use (e.g. by an instance profile); remove that first"))
                } else {
                    Err(e.at(address(name), "DeleteRole"))
                }
            }
        }
    }
}

async fn read_inline(ctx: &Ctx, role: &str) -> Result<BTreeMap<String, Value>> {
    let iam = ctx.aws.iam();
    let mut names = Vec::new();
    let mut pages = iam.list_role_policies().role_name(role).into_paginator().send();
    while let Some(page) = pages.next().await {
        names.extend(page.map_err(|e| aws::error(e).at(address(role), "ListRolePolicies"))?.policy_names);
    }
    let docs = try_join_all(names.iter().map(|n| async move {
        let out = iam.get_role_policy().role_name(role).policy_name(n).send().await.map_err(|e| aws::error(e).at(address(role), "GetRolePolicy"))?;
        let doc = parse_iam_document(&out.policy_document).unwrap_or(Value::Null);
        Ok::<_, crate::Error>((n.clone(), canonical(&doc)))
    }))
    .await?;
    Ok(docs.into_iter().collect())
}

async fn read_attached(ctx: &Ctx, role: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut pages = ctx.aws.iam().list_attached_role_policies().role_name(role).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws::error(e).at(address(role), "ListAttachedRolePolicies"))?;
        arns.extend(page.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)));
    }
    arns.sort();
    Ok(arns)
}

async fn put_inline(ctx: &Ctx, role: &str, name: &str, doc: &Value) -> Result<()> {
    ctx.aws
        .iam()
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(doc.to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws::error(e).at(address(role), "PutRolePolicy"))
}

async fn delete_inline(ctx: &Ctx, role: &str, name: &str) -> Result<()> {
    let r = ctx.aws.iam().delete_role_policy().role_name(role).policy_name(name).send().await;
    aws::gone_ok(r, &["NoSuchEntity"], address(role), "DeleteRolePolicy")
}

async fn attach(ctx: &Ctx, role: &str, arn: &str) -> Result<()> {
    match ctx.aws.iam().attach_role_policy().role_name(role).policy_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws::error(e);
            let missing = e.is("NoSuchEntity");
            let err = e.at(address(role), "AttachRolePolicy");
            Err(if missing {
                let name = arn.rsplit('/').next().unwrap_or(arn);
                err.with_help(format!("no managed policy {arn}: check the spelling of `{name}` (AWS-managed names are case-sensitive, e.g. AmazonEC2ContainerRegistryFullAccess; some live under a path such as service-role/{name})"))
            } else {
                err
            })
        }
    }
}

async fn detach(ctx: &Ctx, role: &str, arn: &str) -> Result<()> {
    let r = ctx.aws.iam().detach_role_policy().role_name(role).policy_arn(arn).send().await;
    aws::gone_ok(r, &["NoSuchEntity"], address(role), "DetachRolePolicy")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn managed_policy_names_become_aws_arns() {
        assert_eq!(managed_policy_arn("aws", "CloudWatchLogsFullAccess"), "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess");
        assert_eq!(managed_policy_arn("aws", "service-role/AWSCodePipelineServiceRole"), "arn:aws:iam::aws:policy/service-role/AWSCodePipelineServiceRole");
        assert_eq!(managed_policy_arn("aws", "arn:aws:iam::1:policy/x"), "arn:aws:iam::1:policy/x");
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize_path(None), "/");
        assert_eq!(normalize_path(Some("ci")), "/ci/");
        assert_eq!(normalize_path(Some("/ci/")), "/ci/");
    }

    #[test]
    fn check_rejects_a_document_without_statement() {
        let e = IamRole.check(&json!({"name": "r", "trust_policy": {"Version": "2012-10-17"}})).unwrap_err();
        assert_eq!(e.path, vec![PathSeg::Key("trust_policy".into())]);
    }
}
