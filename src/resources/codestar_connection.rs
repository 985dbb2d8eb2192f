//! `codestar_connection`: the GitHub connection the pipeline's Source stage uses.
//!
//! Connection names are not unique in AWS, so identity is name + this stack's ownership tag: among
//! same-named connections, the one tagged for this stack is ours; two such are reported, never
//! guessed. A new connection is PENDING until someone finishes the GitHub handshake in the
//! console; the plan says so, it is not an error.
//!
//! ```yaml
//! codestar_connection.github:
//!   name: eks-devops-github-connection
//!   provider_type: GitHub        # GitHub | GitHubEnterpriseServer | Bitbucket | GitLab | GitLabSelfManaged
//! ```

use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError, OWNER_TAG};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use aws_sdk_codestarconnections::types::{ProviderType, Tag};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct CodestarConnection;

const PROVIDERS: &[&str] = &["GitHub", "GitHubEnterpriseServer", "Bitbucket", "GitLab", "GitLabSelfManaged"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    provider_type: String,
    #[serde(default)]
    host_arn: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    provider_type: String,
    host_arn: Option<String>,
    tags: BTreeMap<String, String>,
}

fn address(name: &str) -> String {
    format!("codestar_connection {name}")
}

fn handshake(name: &str) -> String {
    format!(
        "connection is PENDING: open the AWS console > Developer Tools > Settings > Connections, select {name} and \
         choose \"Update pending connection\" to finish the GitHub handshake; the pipeline's Source stage fails until then"
    )
}

#[async_trait]
impl Kind for CodestarConnection {
    fn kind(&self) -> &'static str {
        "codestar_connection"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        if !super::is_interpolated(&p.name) && (p.name.is_empty() || p.name.len() > 32) {
            return Err(PropError { path: vec![PathSeg::Key("name".into())], message: format!("connection name `{}` is too long", p.name), help: Some("AWS allows 1-32 characters".into()) });
        }
        if !PROVIDERS.contains(&p.provider_type.as_str()) {
            return Err(PropError {
                path: vec![PathSeg::Key("provider_type".into())],
                message: format!("unknown provider type `{}`", p.provider_type),
                help: Some(format!("use one of: {}", PROVIDERS.join(", "))),
            });
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let state = State { name: p.name.clone(), provider_type: p.provider_type, host_arn: p.host_arn, tags: owned_tags(ctx, &p.tags) };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    /// The ARN carries a generated id: known only once the connection exists.
    fn attrs(&self, _ctx: &Ctx, desired: &Desired, live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), live.and_then(|l| l.attrs.get("arn").cloned()));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("name", "connections cannot be renamed"),
            ("provider_type", "a connection's provider is fixed when it is created"),
            ("host_arn", "a connection's host is fixed when it is created"),
        ]
    }

    fn notes_after_create(&self, desired: &Desired) -> Vec<String> {
        vec![handshake(&desired.name)]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let cs = ctx.aws.connections();
        let addr = address(&desired.name);
        // Any provider: a connection whose provider changed in the stack is still this one (replace).
        let mut same_name = Vec::new();
        let mut pages = cs.list_connections().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws::error(e).at(&addr, "ListConnections"))?;
            same_name.extend(page.connections().iter().filter(|c| c.connection_name() == Some(desired.name.as_str())).cloned());
        }
        let tagged = futures::future::try_join_all(same_name.iter().map(|c| {
            let arn = c.connection_arn().unwrap_or_default().to_string();
            let addr = addr.clone();
            async move {
                let t = cs.list_tags_for_resource().resource_arn(&arn).send().await.map_err(|e| aws::error(e).at(addr, "ListTagsForResource"))?;
                Ok::<_, crate::Error>(t.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect::<BTreeMap<_, _>>())
            }
        }))
        .await?;
        let candidates: Vec<_> = same_name.into_iter().zip(tagged).collect();
        let ours: Vec<_> = candidates.iter().filter(|(_, t)| t.get(OWNER_TAG) == Some(&ctx.stack)).collect();
        let (conn, tags) = match ours.as_slice() {
            [one] => (*one).clone(),
            [] => match candidates.into_iter().next() {
                // Someone else's connection of that name: the engine reports it as not owned.
                Some(c) => c,
                None => return Ok(None),
            },
            many => {
                let arns: Vec<&str> = many.iter().filter_map(|(c, _)| c.connection_arn()).collect();
                return Err(crate::Error::user(
                    format!("{addr}: {} connections named `{}` carry this stack's tag: {}", arns.len(), desired.name, arns.join(", ")),
                    "names are identities: delete the extra connections (keep the one the pipeline uses) and plan again",
                ));
            }
        };
        let state = State {
            name: conn.connection_name().unwrap_or_default().to_string(),
            provider_type: conn.provider_type().map(|p| p.as_str().to_string()).unwrap_or_default(),
            host_arn: desired.state["host_arn"].as_str().and(conn.host_arn().map(str::to_string)),
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        if let Some(arn) = conn.connection_arn() {
            live.attrs.insert("arn".into(), arn.to_string());
        }
        match conn.connection_status().map(|s| s.as_str()) {
            Some("PENDING") => live.notes.push(handshake(&desired.name)),
            Some("ERROR") => live.notes.push("connection is in ERROR: delete it in the console's Connections page and apply again to recreate it".into()),
            Some(s) => live.notes.push(format!("connection status: {s}")),
            None => {}
        }
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let out = ctx
            .aws
            .connections()
            .create_connection()
            .connection_name(&s.name)
            .set_provider_type(s.host_arn.is_none().then(|| ProviderType::from(s.provider_type.as_str())))
            .set_host_arn(s.host_arn.clone())
            .set_tags(Some(sdk_tags(&s.tags)?))
            .send()
            .await
            .map_err(|e| aws::error(e).at(address(&s.name), "CreateConnection"))?;
        Ok(BTreeMap::from([("arn".to_string(), out.connection_arn)]))
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let cs = ctx.aws.connections();
        let addr = address(&s.name);
        let Some(arn) = live.attrs.get("arn") else { return Ok(()) };
        if changes.iter().any(|c| c.field() == "tags") {
            let (set, remove) = tag_delta(&s.tags, &l.tags);
            if !set.is_empty() {
                cs.tag_resource().resource_arn(arn).set_tags(Some(sdk_tags(&set)?)).send().await.map_err(|e| aws::error(e).at(&addr, "TagResource"))?;
            }
            if !remove.is_empty() {
                cs.untag_resource().resource_arn(arn).set_tag_keys(Some(remove)).send().await.map_err(|e| aws::error(e).at(&addr, "UntagResource"))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, live: &Live) -> Result<()> {
        let Some(arn) = live.attrs.get("arn") else { return Ok(()) };
        let r = ctx.aws.connections().delete_connection().connection_arn(arn).send().await;
        aws::gone_ok(r, &["ResourceNotFoundException"], address(&desired.name), "DeleteConnection")
    }
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| crate::Error::user(e.to_string(), "check the tags")))
        .collect()
}
