//! `eks_aws_auth_role`: one role mapping in the cluster's `kube-system/aws-auth` ConfigMap (the
//! course's step 07-05, without `kubectl get | awk | kubectl patch`).
//!
//! Every write is a read-modify-write of the whole ConfigMap carrying the `resourceVersion` it read,
//! redone on a 409; other entries keep their exact bytes (see `kube::aws_auth`); a `mapRoles` that
//! does not parse is never written over; the previous ConfigMap is saved to a local backup first.
//! Which entries a stack owns is recorded on the ConfigMap itself (annotation
//! `provision.stack/<stack>`), so destroy removes exactly those and never the ConfigMap.
//!
//! ```yaml
//! eks_aws_auth_role.kubectl:
//!   cluster: ${var.cluster_name}
//!   role_arn: ${iam_role.kubectl.arn}
//!   username: build
//!   groups: [system:masters]
//!   kubeconfig_context: my-admin     # optional: reach the cluster through a kubeconfig context
//! ```

use super::{config, parse_as, Attrs, Desired, Kind, Live, PropError};
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use crate::kube::aws_auth::{self, render_entry, strip_path};
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub struct EksAwsAuthRole;

const NAMESPACE: &str = "kube-system";
const NAME: &str = "aws-auth";
/// Read-modify-write attempts before giving up on a ConfigMap that keeps changing.
const ATTEMPTS: u32 = 6;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    cluster: String,
    role_arn: String,
    username: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    kubeconfig_context: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    cluster: String,
    role_arn: String,
    username: String,
    groups: Vec<String>,
    /// Our entry as it appears in mapRoles: the plan shows changes as a YAML diff of it.
    mapping: String,
}

fn owner_annotation(stack: &str) -> String {
    format!("provision.stack/{stack}")
}

fn address(cluster: &str, arn: &str) -> String {
    format!("aws-auth of {cluster} ({arn})")
}

/// Role ARNs this stack owns, from the ConfigMap's annotation.
fn owned(cm: &ConfigMap, stack: &str) -> BTreeSet<String> {
    cm.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(&owner_annotation(stack)))
        .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok())
        .unwrap_or_default()
        .into_iter()
        .collect()
}

fn kube_err(cluster: &str, arn: &str, what: &str, e: kube::Error) -> crate::Error {
    let help = match &e {
        kube::Error::Api(s) if s.code == 401 || s.code == 403 => Some(
            "the cluster refused the caller: map your IAM identity in aws-auth or grant it an access entry, or name a `kubeconfig_context` that has access".to_string(),
        ),
        _ => None,
    };
    crate::Error::Kube { address: address(cluster, arn), message: format!("{what}: {e}"), help }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

#[async_trait]
impl Kind for EksAwsAuthRole {
    fn kind(&self) -> &'static str {
        "eks_aws_auth_role"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["role_arn", "username"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        if !super::is_interpolated(&p.role_arn) && !p.role_arn.contains(":role/") {
            return Err(PropError {
                path: vec![PathSeg::Key("role_arn".into())],
                message: format!("`{}` is not an IAM role ARN", p.role_arn),
                help: Some("write arn:aws:iam::ACCOUNT:role/NAME, or reference a role: ${iam_role.NAME.arn}".into()),
            });
        }
        Ok(())
    }

    fn desired(&self, _ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let arn = strip_path(&p.role_arn);
        let state = State {
            mapping: render_entry("", &arn, &p.username, &p.groups),
            cluster: p.cluster,
            role_arn: arn.clone(),
            username: p.username,
            groups: p.groups,
        };
        Ok(Desired { name: arn, state: serde_json::to_value(state).expect("serialisable"), options: json!({"kubeconfig_context": p.kubeconfig_context}) })
    }

    fn attrs(&self, _ctx: &Ctx, desired: &Desired, _live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("role_arn".into(), Some(desired.name.clone()));
        a.insert("username".into(), desired.state["username"].as_str().map(str::to_string));
        a
    }

    /// Only the rendered entry is compared: it holds username and groups, and shows as YAML.
    fn diff(&self, desired: &Desired, live: &Live) -> Vec<FieldChange> {
        crate::engine::diff::fields(&json!({"mapping": desired.state["mapping"]}), &json!({"mapping": live.state["mapping"]}))
    }

    fn notes_after_create(&self, desired: &Desired) -> Vec<String> {
        let cluster = desired.state["cluster"].as_str().unwrap_or_default();
        crate::kube::described(cluster).map(|c| c.mode_note()).into_iter().collect()
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let s: State = config(&desired.state)?;
        let (api, note) = configmaps(ctx, &s.cluster, desired).await?;
        let cm = api.get_opt(NAME).await.map_err(|e| kube_err(&s.cluster, &s.role_arn, "reading kube-system/aws-auth", e))?;
        let Some(cm) = cm else { return Ok(None) };
        let text = cm.data.as_ref().and_then(|d| d.get("mapRoles")).cloned().unwrap_or_default();
        let parsed = aws_auth::parse(&text).map_err(|why| refuse(&s, &why))?;
        let found = parsed.find(&s.role_arn);
        let entry = match found.as_slice() {
            [] => return Ok(None),
            [one] => (*one).clone(),
            _ => {
                return Err(crate::Error::Kube {
                    address: address(&s.cluster, &s.role_arn),
                    message: format!("aws-auth maps role {} {} times", s.role_arn, found.len()),
                    help: Some("keep a single entry for the role (edit kube-system/aws-auth by hand), then plan again".into()),
                })
            }
        };
        let username = entry.username.clone().unwrap_or_default();
        let state = State {
            cluster: s.cluster.clone(),
            role_arn: s.role_arn.clone(),
            mapping: render_entry("", &s.role_arn, &username, &entry.groups),
            username,
            groups: entry.groups,
        };
        let mine = owned(&cm, &ctx.stack).contains(&s.role_arn);
        Ok(Some(Live {
            state: serde_json::to_value(state).expect("serialisable"),
            owner: mine.then(|| ctx.stack.clone()),
            attrs: BTreeMap::new(),
            notes: vec![note],
        }))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        upsert(ctx, desired).await?;
        Ok(BTreeMap::new())
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, _live: &Live, _changes: &[FieldChange]) -> Result<()> {
        upsert(ctx, desired).await
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let s: State = config(&desired.state)?;
        rewrite(ctx, desired, |cm, roles| {
            let mut mine = owned(cm, &ctx.stack);
            if !mine.remove(&s.role_arn) {
                // Not (or no longer) ours: leave the entry alone.
                return Ok(None);
            }
            Ok(Some((roles.remove(&s.role_arn), mine)))
        })
        .await
    }
}

fn refuse(s: &State, why: &str) -> crate::Error {
    crate::Error::Kube {
        address: address(&s.cluster, &s.role_arn),
        message: format!("kube-system/aws-auth has a mapRoles that cannot be parsed ({why}); refusing to write it"),
        help: Some("a malformed aws-auth locks nodes and users out of the cluster: fix mapRoles by hand (kubectl edit -n kube-system configmap/aws-auth) or restore a backup from .provision/backups, then plan again".into()),
    }
}

async fn configmaps(ctx: &Ctx, cluster: &str, desired: &Desired) -> Result<(Api<ConfigMap>, String)> {
    let info = crate::kube::describe(ctx, cluster).await?;
    if !info.uses_config_map() {
        return Err(crate::Error::user(
            format!("cluster {cluster} uses authentication mode {}: it ignores the aws-auth ConfigMap", info.authentication_mode),
            "grant the role access with an `eks_access_entry` instead, or switch the cluster to API_AND_CONFIG_MAP",
        ));
    }
    let context = desired.options["kubeconfig_context"].as_str();
    let client = crate::kube::client(ctx, cluster, context).await?;
    Ok((Api::namespaced(client, NAMESPACE), info.mode_note()))
}

async fn upsert(ctx: &Ctx, desired: &Desired) -> Result<()> {
    let s: State = config(&desired.state)?;
    rewrite(ctx, desired, |cm, roles| {
        let mut mine = owned(cm, &ctx.stack);
        mine.insert(s.role_arn.clone());
        Ok(Some((roles.upsert(&s.role_arn, &s.username, &s.groups), mine)))
    })
    .await
}

/// The read-modify-write loop. `change` gets the current ConfigMap and its parsed mapRoles and
/// returns the new mapRoles text and the new set of owned roles, or `None` for "nothing to do".
async fn rewrite<F>(ctx: &Ctx, desired: &Desired, change: F) -> Result<()>
where
    F: Fn(&ConfigMap, &aws_auth::MapRoles) -> Result<Option<(String, BTreeSet<String>)>> + Send + Sync,
{
    let s: State = config(&desired.state)?;
    let (api, _) = configmaps(ctx, &s.cluster, desired).await?;
    let err = |what: &str, e: kube::Error| kube_err(&s.cluster, &s.role_arn, what, e);
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt) + fastrand::u64(0..100))).await;
        }
        let current = api.get_opt(NAME).await.map_err(|e| err("reading kube-system/aws-auth", e))?;
        let exists = current.is_some();
        let cm = current.unwrap_or_else(|| ConfigMap {
            metadata: ObjectMeta { name: Some(NAME.into()), namespace: Some(NAMESPACE.into()), ..Default::default() },
            ..Default::default()
        });
        let text = cm.data.as_ref().and_then(|d| d.get("mapRoles")).cloned().unwrap_or_default();
        let roles = aws_auth::parse(&text).map_err(|why| refuse(&s, &why))?;
        let Some((new_text, mine)) = change(&cm, &roles)? else { return Ok(()) };
        if new_text == text && mine == owned(&cm, &ctx.stack) {
            return Ok(());
        }
        let mut next = cm.clone();
        next.data.get_or_insert_with(Default::default).insert("mapRoles".into(), new_text);
        let annotations = next.metadata.annotations.get_or_insert_with(Default::default);
        if mine.is_empty() {
            annotations.remove(&owner_annotation(&ctx.stack));
        } else {
            annotations.insert(owner_annotation(&ctx.stack), serde_json::to_string(&mine).expect("strings serialise"));
        }
        let result = if exists {
            backup(ctx, &s.cluster, &cm)?;
            api.replace(NAME, &PostParams::default(), &next).await
        } else {
            api.create(&PostParams::default(), &next).await
        };
        match result {
            Ok(_) => return Ok(()),
            // Someone wrote in between (409 Conflict, or AlreadyExists for a create): start over.
            Err(e) if is_conflict(&e) => continue,
            Err(e) => return Err(err("writing kube-system/aws-auth", e)),
        }
    }
    Err(crate::Error::Kube {
        address: address(&s.cluster, &s.role_arn),
        message: format!("kube-system/aws-auth changed under every one of {ATTEMPTS} attempts to update it"),
        help: Some("something else is rewriting aws-auth continuously; find it, then apply again".into()),
    })
}

/// Save the ConfigMap as it was before our write, and say where.
fn backup(ctx: &Ctx, cluster: &str, cm: &ConfigMap) -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let path = ctx.backup_dir.join(format!("aws-auth-{cluster}-{stamp}.json"));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&ctx.backup_dir)?;
        std::fs::write(&path, serde_json::to_string_pretty(cm).unwrap_or_default())
    };
    write().map_err(|e| {
        crate::Error::user(
            format!("cannot save a backup of kube-system/aws-auth to {}: {e}; not writing without one", path.display()),
            "make the directory writable (it is .provision/backups under the current directory)",
        )
    })?;
    println!("backup of kube-system/aws-auth (cluster {cluster}) saved to {}", path.display());
    Ok(())
}
