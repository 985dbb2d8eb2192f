//! `eks_aws_auth_role`: one role mapping in the cluster's `kube-system/aws-auth` ConfigMap (the
//! course's step 07-05, without `kubectl get | awk | kubectl patch`).
//!
//! Every write is a read-modify-write of the whole ConfigMap carrying the `resourceVersion` it read,
//! redone on a 409; other entries keep their exact bytes (see `kube::aws_auth`); a `mapRoles` that
//! does not parse is never written over; the previous ConfigMap is saved to a backup first.
//! Which entries a stack owns is recorded on the ConfigMap itself (annotation
//! `provision.stack/<stack>`: role ARN -> stack address), so destroy removes exactly those and
//! never the ConfigMap, and an entry whose resource left the stack file is found and removed.

use crate::aws::Reads;
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource};
use crate::kube::aws_auth::{self, render_entry, strip_path};
use crate::kube::Cluster;
use crate::Result;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

pub struct EksAwsAuthRole;

const NAMESPACE: &str = "kube-system";
const NAME: &str = "aws-auth";
/// Read-modify-write attempts before giving up on a ConfigMap that keeps changing.
const ATTEMPTS: u32 = 6;
/// Backups kept per cluster (the oldest go first).
pub const BACKUPS_KEPT: usize = 20;
const ANNOTATION_PREFIX: &str = "provision.stack/";

pub static SCHEMA: Schema = Schema {
    kind: "eks_aws_auth_role",
    summary: "One role mapping in the EKS cluster's `kube-system/aws-auth` ConfigMap.",
    notes: "provision calls `eks:DescribeCluster` for the endpoint, CA and authentication mode, mints the `k8s-aws-v1.` token itself (no aws CLI, no kubeconfig), and edits `kube-system/aws-auth`: every other entry (node roles with `{{EC2PrivateDNSName}}`, comments, unknown fields), `mapUsers` and every other key keep their exact bytes; writes carry the `resourceVersion` read and are redone on a 409; a `mapRoles` that does not parse is never written over; the previous ConfigMap is saved to `.provision/backups/` under the project root (mode 0600 in a 0700 folder; the path is printed; the last 20 per cluster are kept) before each write. Entries the stack owns are recorded in the annotation `provision.stack/<stack>`, so destroy removes exactly those and never the ConfigMap. The plan shows changes as a YAML diff of the entry.",
    fields: &[
        field("cluster", STRING, "EKS cluster name").required().replace("a mapping belongs to one cluster's aws-auth"),
        field("role_arn", STRING, "the role to map; a role path is stripped, as the authenticator requires").required().replace("a mapping is for one role"),
        field("username", text(1, 256), "Kubernetes user name").required().not_compared(),
        field("groups", Ty::List(&STRING), "Kubernetes groups").default(Lit::EmptyList).not_compared(),
        field("kubeconfig_context", STRING, "reach the cluster through this kubeconfig context instead of EKS + a minted token").behaviour(Lit::None),
        field("mapping", STRING, "the entry as it appears in mapRoles").computed(),
    ],
    attributes: &[attr("role_arn", "the mapped role ARN (path stripped)"), attr("username", "the Kubernetes user name")],
    identity: &["cluster", "role_arn"],
    unique: true,
    ownership: Ownership::Record,
    rank: 9,
    not_found: &[],
    already_exists: &[],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    cluster: String,
    role_arn: String,
    username: String,
    groups: Vec<String>,
    kubeconfig_context: Option<String>,
    /// Our entry as it appears in mapRoles: the plan shows changes as a YAML diff of it.
    mapping: Option<String>,
}

fn annotation(stack: &str) -> String {
    format!("{ANNOTATION_PREFIX}{stack}")
}

/// Role ARN -> stack address, for every stack recorded on the ConfigMap. An older form recorded
/// a plain list of ARNs.
fn owners(cm: &ConfigMap) -> BTreeMap<String, (String, Option<String>)> {
    let mut out = BTreeMap::new();
    for (k, v) in cm.metadata.annotations.iter().flatten() {
        let Some(stack) = k.strip_prefix(ANNOTATION_PREFIX) else { continue };
        let entries: Vec<(String, Option<String>)> = match serde_json::from_str::<Value>(v) {
            Ok(Value::Object(m)) => m.into_iter().map(|(arn, a)| (arn, a.as_str().map(str::to_string))).collect(),
            Ok(Value::Array(a)) => a.into_iter().filter_map(|x| x.as_str().map(|s| (s.to_string(), None))).collect(),
            _ => continue,
        };
        for (arn, address) in entries {
            out.insert(arn, (stack.to_string(), address));
        }
    }
    out
}

fn owned_by(cm: &ConfigMap, stack: &str) -> BTreeMap<String, Option<String>> {
    owners(cm).into_iter().filter(|(_, (s, _))| s == stack).map(|(arn, (_, a))| (arn, a)).collect()
}

fn map_roles(cm: &ConfigMap) -> String {
    cm.data.as_ref().and_then(|d| d.get("mapRoles")).cloned().unwrap_or_default()
}

fn refuse(cluster: &str, why: &str) -> crate::Error {
    crate::Error::user(
        format!("kube-system/aws-auth of cluster {cluster} has a mapRoles that cannot be parsed ({why}); refusing to write it"),
        "a malformed aws-auth locks nodes and users out of the cluster: fix mapRoles by hand (kubectl edit -n kube-system configmap/aws-auth) or restore a backup from .provision/backups, then plan again",
    )
}

#[async_trait]
impl Resource for EksAwsAuthRole {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn check(&self, props: &Value) -> Vec<PropError> {
        match props["role_arn"].as_str() {
            // A reference is checked once resolved, by AWS.
            Some(arn) if !arn.contains("${") && !arn.contains(":role/") => vec![PropError::at(
                keys(&["role_arn"]),
                format!("`{}` is not an IAM role ARN", crate::error::diag::excerpt(arn)),
                "write arn:aws:iam::ACCOUNT:role/NAME, or reference a role: ${iam_role.NAME.arn}",
            )],
            _ => Vec::new(),
        }
    }

    fn normalize(&self, _ctx: &Ctx, s: &mut State) {
        s.role_arn = strip_path(&s.role_arn);
        s.mapping = Some(render_entry("", &s.role_arn, &s.username, &s.groups));
    }

    fn attrs(&self, _ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("role_arn".into(), Some(s.role_arn.clone()));
        a.insert("username".into(), Some(s.username.clone()));
        a
    }

    fn notes(&self, ctx: &Ctx, s: &State) -> Vec<String> {
        ctx.clusters.described(&s.cluster).map(|c| c.mode_note()).into_iter().collect()
    }

    /// The aws-auth of every cluster the stack names, plus every other cluster of the region that
    /// this caller can read (an entry whose resource left the stack file may be there).
    async fn inventory(&self, ctx: &Ctx, _reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let named: BTreeSet<&str> = wanted.iter().map(|w| w.cluster.as_str()).collect();
        let mut clusters: BTreeSet<String> = named.iter().map(|s| s.to_string()).collect();
        let mut pages = ctx.aws.eks().list_clusters().into_paginator().send();
        while let Some(page) = pages.next().await {
            match page {
                Ok(p) => clusters.extend(p.clusters().iter().cloned()),
                // Listing is only for finding what left the stack file; the named ones suffice.
                Err(_) => break,
            }
        }
        let mut out = Vec::new();
        for cluster in clusters {
            let wants: Vec<&State> = wanted.iter().filter(|w| w.cluster == cluster).collect();
            let read = read_cluster(ctx, &cluster, &wants).await;
            match read {
                Ok(found) => out.extend(found),
                Err(e) if named.contains(cluster.as_str()) => return Err(e),
                // A cluster the stack does not name and this caller cannot read holds nothing of it
                // that this run could change anyway.
                Err(_) => {}
            }
        }
        Ok(out)
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        upsert(op, s).await?;
        Ok(BTreeMap::new())
    }

    async fn update(&self, op: &Op<'_>, s: &State, _live: &Live<State>) -> Result<()> {
        upsert(op, s).await
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, desired: Option<&State>) -> Result<()> {
        let s = &live.state;
        let context = desired.and_then(|d| d.kubeconfig_context.clone());
        rewrite(op, &s.cluster, context.as_deref(), |cm, roles| {
            let mut mine = owned_by(cm, &op.stack);
            if mine.remove(&s.role_arn).is_none() {
                // Not (or no longer) ours: leave the entry alone.
                return Ok(None);
            }
            Ok(Some((roles.remove(&s.role_arn), mine)))
        })
        .await
    }
}

async fn configmaps(ctx: &Ctx, info: &Cluster, context: Option<&str>) -> Result<Api<ConfigMap>> {
    let client = crate::kube::client(&ctx.aws, &ctx.region, info, context).await?;
    Ok(Api::namespaced(client, NAMESPACE))
}

async fn read_cluster(ctx: &Ctx, cluster: &str, wants: &[&State]) -> Result<Vec<Live<State>>> {
    let info = ctx.clusters.describe(&ctx.aws, &ctx.region, cluster).await?;
    if !info.uses_config_map() {
        if wants.is_empty() {
            return Ok(Vec::new());
        }
        return Err(crate::Error::user(
            format!("cluster {cluster} uses authentication mode {}: it ignores the aws-auth ConfigMap", info.authentication_mode),
            "grant the role access with an `eks_access_entry` instead, or switch the cluster to API_AND_CONFIG_MAP",
        ));
    }
    let context = wants.iter().find_map(|w| w.kubeconfig_context.as_deref());
    let api = configmaps(ctx, &info, context).await?;
    let Some(cm) = api.get_opt(NAME).await.map_err(|e| crate::kube::error("GET kube-system/aws-auth", e))? else { return Ok(Vec::new()) };
    let parsed = aws_auth::parse(&map_roles(&cm)).map_err(|why| refuse(cluster, &why))?;
    let owners = owners(&cm);
    let wanted: BTreeSet<&str> = wants.iter().map(|w| w.role_arn.as_str()).collect();
    let mut roles: BTreeSet<String> = wanted.iter().map(|s| s.to_string()).collect();
    roles.extend(owners.iter().filter(|(_, (s, _))| *s == ctx.stack).map(|(arn, _)| arn.clone()));
    let mut out = Vec::new();
    for role in roles {
        let found = parsed.find(&role);
        let entry = match found.as_slice() {
            [] => continue,
            [one] => (*one).clone(),
            _ => {
                return Err(crate::Error::user(
                    format!("aws-auth of cluster {cluster} maps role {role} {} times", found.len()),
                    "keep a single entry for the role (edit kube-system/aws-auth by hand), then plan again",
                ))
            }
        };
        let username = entry.username.clone().unwrap_or_default();
        let state = State {
            cluster: cluster.to_string(),
            role_arn: role.clone(),
            mapping: Some(render_entry("", &role, &username, &entry.groups)),
            username,
            groups: entry.groups,
            kubeconfig_context: None,
        };
        let mut live = Live::new(state).note(info.mode_note());
        if let Some((stack, address)) = owners.get(&role) {
            live.owner = Some(stack.clone());
            live.address = address.clone();
        }
        out.push(live);
    }
    Ok(out)
}

async fn upsert(op: &Op<'_>, s: &State) -> Result<()> {
    rewrite(op, &s.cluster, s.kubeconfig_context.as_deref(), |cm, roles| {
        let mut mine = owned_by(cm, &op.stack);
        mine.insert(s.role_arn.clone(), Some(op.address.to_string()));
        Ok(Some((roles.upsert(&s.role_arn, &s.username, &s.groups), mine)))
    })
    .await
}

type Change = Option<(String, BTreeMap<String, Option<String>>)>;

/// The read-modify-write loop. `change` gets the current ConfigMap and its parsed mapRoles and
/// returns the new mapRoles text and this stack's new record, or `None` for "nothing to do".
async fn rewrite<F>(op: &Op<'_>, cluster: &str, context: Option<&str>, change: F) -> Result<()>
where
    F: Fn(&ConfigMap, &aws_auth::MapRoles) -> Result<Change> + Send + Sync,
{
    let info = op.clusters.describe(&op.aws, &op.region, cluster).await?;
    let api = configmaps(op, &info, context).await?;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            op.status.set(format!("kube-system/aws-auth changed under us; attempt {} of {ATTEMPTS}", attempt + 1));
            tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt) + fastrand::u64(0..100))).await;
        }
        let current = api.get_opt(NAME).await.map_err(|e| crate::kube::error("GET kube-system/aws-auth", e))?;
        let exists = current.is_some();
        let cm = current.unwrap_or_else(|| ConfigMap {
            metadata: ObjectMeta { name: Some(NAME.into()), namespace: Some(NAMESPACE.into()), ..Default::default() },
            ..Default::default()
        });
        let text = map_roles(&cm);
        let roles = aws_auth::parse(&text).map_err(|why| refuse(cluster, &why))?;
        let Some((new_text, mine)) = change(&cm, &roles)? else { return Ok(()) };
        if new_text == text && mine == owned_by(&cm, &op.stack) {
            return Ok(());
        }
        let mut next = cm.clone();
        next.data.get_or_insert_with(Default::default).insert("mapRoles".into(), new_text);
        let annotations = next.metadata.annotations.get_or_insert_with(Default::default);
        if mine.is_empty() {
            annotations.remove(&annotation(&op.stack));
        } else {
            let record: BTreeMap<&String, Value> = mine.iter().map(|(k, v)| (k, v.clone().map(Value::String).unwrap_or(Value::Null))).collect();
            annotations.insert(annotation(&op.stack), serde_json::to_string(&record).expect("strings serialise"));
        }
        let result = if exists {
            backup(op, cluster, &cm)?;
            api.replace(NAME, &PostParams::default(), &next).await
        } else {
            api.create(&PostParams::default(), &next).await
        };
        match result {
            Ok(_) => {
                op.status.clear();
                return Ok(());
            }
            // Someone wrote in between (409 Conflict, or AlreadyExists for a create): start over.
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(crate::kube::error("PUT kube-system/aws-auth", e)),
        }
    }
    Err(crate::Error::user(
        format!("kube-system/aws-auth of cluster {cluster} changed under every one of {ATTEMPTS} attempts to update it"),
        "something else is rewriting aws-auth continuously; find it, then apply again",
    ))
}

/// Save the ConfigMap as it was before our write (owner-only permissions: it lists every role
/// with access to the cluster), keep the last `BACKUPS_KEPT`, and say where.
fn backup(op: &Op<'_>, cluster: &str, cm: &ConfigMap) -> Result<()> {
    let dir: &Path = &op.backup_dir;
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
    let prefix = format!("aws-auth-{cluster}-");
    let path = dir.join(format!("{prefix}{stamp}.json"));
    let write = || -> std::io::Result<()> {
        crate::files::private_dir(dir)?;
        crate::files::write_private(&path, serde_json::to_string_pretty(cm).unwrap_or_default().as_bytes())?;
        let mut old: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&prefix)))
            .collect();
        old.sort();
        for p in old.iter().take(old.len().saturating_sub(BACKUPS_KEPT)) {
            std::fs::remove_file(p)?;
        }
        Ok(())
    };
    write().map_err(|e| {
        crate::Error::user(
            format!("cannot save a backup of kube-system/aws-auth to {}: {e}; not writing without one", path.display()),
            format!("make {} writable", dir.display()),
        )
    })?;
    op.note(&format!("backup of kube-system/aws-auth (cluster {cluster}) saved to {}", path.display()));
    Ok(())
}
