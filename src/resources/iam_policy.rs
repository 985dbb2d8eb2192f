//! `iam_policy`: a customer-managed policy. A document change becomes a new default version (the
//! oldest non-default version is pruned when IAM's limit of five is reached); delete detaches the
//! policy everywhere and removes its old versions first, as IAM requires.
//!
//! ```yaml
//! iam_policy.sts_assume_kubectl:
//!   name: eks-codebuild-sts-assume-role
//!   description: ...                # fixed at creation (IAM cannot change it)
//!   document: { file: policies/sts-assume-kubectl-role.json }
//! ```

use super::iam_role::{normalize_path, sdk_tags};
use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::policy::{canonical, parse_iam_document};
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use futures::future::try_join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct IamPolicy;

/// IAM keeps at most five versions of a managed policy.
const MAX_VERSIONS: usize = 5;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    description: Option<String>,
    document: Value,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    path: String,
    description: Option<String>,
    document: Value,
    tags: BTreeMap<String, String>,
}

fn address(name: &str) -> String {
    format!("iam_policy {name}")
}

fn arn(ctx: &Ctx, desired: &Desired) -> String {
    let path = desired.state["path"].as_str().unwrap_or("/");
    ctx.global_arn("iam", &format!("policy{path}{}", desired.name))
}

#[async_trait]
impl Kind for IamPolicy {
    fn kind(&self) -> &'static str {
        "iam_policy"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        if p.document.get("Statement").is_none() {
            return Err(PropError {
                path: vec![PathSeg::Key("document".into())],
                message: "the policy document has no `Statement`".into(),
                help: Some("a policy document looks like {\"Version\": \"2012-10-17\", \"Statement\": [...]}".into()),
            });
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let state = State {
            name: p.name.clone(),
            path: normalize_path(p.path.as_deref()),
            description: p.description,
            document: canonical(&p.document),
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, _live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), Some(arn(ctx, desired)));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("name", "IAM policies cannot be renamed"),
            ("path", "IAM cannot move a policy to another path"),
            ("description", "IAM cannot change a managed policy's description"),
        ]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let iam = ctx.aws.iam();
        let policy_arn = arn(ctx, desired);
        let policy = match iam.get_policy().policy_arn(&policy_arn).send().await {
            Ok(o) => o.policy,
            Err(e) => {
                let e = aws::error(e);
                if e.is("NoSuchEntity") {
                    return Ok(None);
                }
                return Err(e.at(address(&desired.name), "GetPolicy"));
            }
        };
        let Some(policy) = policy else { return Ok(None) };
        let version = policy.default_version_id().unwrap_or("v1");
        let (doc, tags) = futures::try_join!(
            async {
                let v = iam
                    .get_policy_version()
                    .policy_arn(&policy_arn)
                    .version_id(version)
                    .send()
                    .await
                    .map_err(|e| aws::error(e).at(address(&desired.name), "GetPolicyVersion"))?;
                Ok::<_, crate::Error>(
                    v.policy_version.and_then(|v| v.document).and_then(|d| parse_iam_document(&d).ok()).map(|d| canonical(&d)).unwrap_or(Value::Null),
                )
            },
            async {
                let t = iam
                    .list_policy_tags()
                    .policy_arn(&policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws::error(e).at(address(&desired.name), "ListPolicyTags"))?;
                Ok::<_, crate::Error>(t.tags.into_iter().map(|t| (t.key, t.value)).collect::<BTreeMap<_, _>>())
            }
        )?;
        let state = State {
            name: policy.policy_name().unwrap_or_default().to_string(),
            path: policy.path().unwrap_or("/").to_string(),
            description: policy.description().map(str::to_string),
            document: doc,
            tags: tags.clone(),
        };
        Ok(Some(Live::new(serde_json::to_value(state).expect("serialisable"), &tags)))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let out = ctx
            .aws
            .iam()
            .create_policy()
            .policy_name(&s.name)
            .path(&s.path)
            .set_description(s.description.clone())
            .policy_document(s.document.to_string())
            .set_tags(Some(sdk_tags(&s.tags)?))
            .send()
            .await
            .map_err(|e| aws::error(e).at(address(&s.name), "CreatePolicy"))?;
        Ok(out.policy.and_then(|p| p.arn).map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let iam = ctx.aws.iam();
        let policy_arn = arn(ctx, desired);
        let addr = address(&s.name);
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        if changed("document") {
            let versions = list_versions(ctx, &policy_arn, &addr).await?;
            if versions.len() >= MAX_VERSIONS {
                // Versions come newest first; prune the oldest that is not the default.
                if let Some((oldest, _)) = versions.iter().rev().find(|(_, default)| !default) {
                    iam.delete_policy_version()
                        .policy_arn(&policy_arn)
                        .version_id(oldest)
                        .send()
                        .await
                        .map_err(|e| aws::error(e).at(&addr, "DeletePolicyVersion"))?;
                }
            }
            iam.create_policy_version()
                .policy_arn(&policy_arn)
                .policy_document(s.document.to_string())
                .set_as_default(true)
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "CreatePolicyVersion"))?;
        }
        if changed("tags") {
            let (set, remove) = tag_delta(&s.tags, &l.tags);
            if !set.is_empty() {
                iam.tag_policy().policy_arn(&policy_arn).set_tags(Some(sdk_tags(&set)?)).send().await.map_err(|e| aws::error(e).at(&addr, "TagPolicy"))?;
            }
            if !remove.is_empty() {
                iam.untag_policy().policy_arn(&policy_arn).set_tag_keys(Some(remove)).send().await.map_err(|e| aws::error(e).at(&addr, "UntagPolicy"))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let iam = ctx.aws.iam();
        let policy_arn = arn(ctx, desired);
        let addr = address(&desired.name);
        let gone = |e: &aws::AwsError| e.is("NoSuchEntity");
        // Detach everywhere (IAM refuses to delete an attached policy).
        let entities = match iam.list_entities_for_policy().policy_arn(&policy_arn).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = aws::error(e);
                return if gone(&e) { Ok(()) } else { Err(e.at(addr, "ListEntitiesForPolicy")) };
            }
        };
        let roles = entities.policy_roles().iter().filter_map(|r| r.role_name()).map(|r| {
            let arn = policy_arn.clone();
            async move { iam.detach_role_policy().role_name(r).policy_arn(arn).send().await.map(|_| ()).map_err(aws::error) }
        });
        let users = entities.policy_users().iter().filter_map(|u| u.user_name()).map(|u| {
            let arn = policy_arn.clone();
            async move { iam.detach_user_policy().user_name(u).policy_arn(arn).send().await.map(|_| ()).map_err(aws::error) }
        });
        let groups = entities.policy_groups().iter().filter_map(|g| g.group_name()).map(|g| {
            let arn = policy_arn.clone();
            async move { iam.detach_group_policy().group_name(g).policy_arn(arn).send().await.map(|_| ()).map_err(aws::error) }
        });
        let detach = |r: Vec<std::result::Result<(), aws::AwsError>>| -> Result<()> {
            for e in r.into_iter().filter_map(|r| r.err()) {
                if !gone(&e) {
                    return Err(e.at(&addr, "DetachPolicy"));
                }
            }
            Ok(())
        };
        detach(futures::future::join_all(roles).await)?;
        detach(futures::future::join_all(users).await)?;
        detach(futures::future::join_all(groups).await)?;
        let versions = list_versions(ctx, &policy_arn, &addr).await?;
        try_join_all(versions.iter().filter(|(_, default)| !default).map(|(v, _)| {
            let arn = policy_arn.clone();
            let addr = addr.clone();
            async move {
                let r = iam.delete_policy_version().policy_arn(arn).version_id(v).send().await;
                aws::gone_ok(r, &["NoSuchEntity"], addr, "DeletePolicyVersion")
            }
        }))
        .await?;
        let r = iam.delete_policy().policy_arn(&policy_arn).send().await;
        aws::gone_ok(r, &["NoSuchEntity"], addr, "DeletePolicy")
    }
}

/// (version id, is default), newest first.
async fn list_versions(ctx: &Ctx, policy_arn: &str, addr: &str) -> Result<Vec<(String, bool)>> {
    let out = match ctx.aws.iam().list_policy_versions().policy_arn(policy_arn).send().await {
        Ok(o) => o,
        Err(e) => {
            let e = aws::error(e);
            return if e.is("NoSuchEntity") { Ok(Vec::new()) } else { Err(e.at(addr, "ListPolicyVersions")) };
        }
    };
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
