//! `codestar_connection`: the GitHub connection the pipeline's Source stage uses.
//!
//! Connection names are not unique in AWS, so identity is name + this stack's ownership tag (the
//! table says `unique: false`; the engine resolves duplicates). A new connection is PENDING until
//! someone finishes the GitHub handshake in the console; the plan says so, it is not an error.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_codestarconnections::types::{ProviderType, Tag};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub struct CodestarConnection;

pub static SCHEMA: Schema = Schema {
    kind: "codestar_connection",
    summary: "A CodeStar (CodeConnections) connection to GitHub, Bitbucket or GitLab.",
    notes: "Names are not unique in AWS: identity is name + this stack's tag. While the connection is `PENDING` the plan says how to finish the handshake in the console; that is not an error and not a change.",
    fields: &[
        field("name", text(1, 32), "connection name").required().replace("connections cannot be renamed"),
        field("provider_type", Ty::Enum(&["GitHub", "GitHubEnterpriseServer", "Bitbucket", "GitLab", "GitLabSelfManaged"]), "the provider")
            .required()
            .replace("a connection's provider is fixed when it is created"),
        field("host_arn", STRING, "the host, for self-managed providers").replace("a connection's host is fixed when it is created"),
        TAGS,
    ],
    attributes: &[attr("name", "connection name"), attr_after_create("arn", "connection ARN")],
    identity: &["name"],
    unique: false,
    ownership: Ownership::Tags,
    rank: 5,
    not_found: &["ResourceNotFoundException"],
    already_exists: &[],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    provider_type: String,
    host_arn: Option<String>,
    tags: Tags,
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

fn handshake(name: &str) -> String {
    format!(
        "connection is PENDING: open the AWS console > Developer Tools > Settings > Connections, select {name} and \
         choose \"Update pending connection\" to finish the GitHub handshake; the pipeline's Source stage fails until then"
    )
}

#[async_trait]
impl Resource for CodestarConnection {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    /// The ARN carries a generated id: known only once the connection exists.
    fn attrs(&self, _ctx: &Ctx, s: &State, live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), live.and_then(|l| l.attrs.get("arn").cloned()));
        a
    }

    fn notes(&self, _ctx: &Ctx, s: &State) -> Vec<String> {
        vec![handshake(&s.name)]
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let cs = ctx.aws.connections();
        let owned: BTreeMap<String, Tags> = reads.tagged(&ctx.aws, "codestar-connections").await?.into_iter().map(|t| (t.arn, t.tags)).collect();
        let wanted: BTreeSet<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
        let mut conns = Vec::new();
        let mut pages = cs.list_connections().into_paginator().send();
        while let Some(page) = pages.next().await {
            conns.extend(page.op("ListConnections")?.connections().iter().cloned());
        }
        let relevant = conns
            .into_iter()
            .filter(|c| owned.contains_key(c.connection_arn().unwrap_or_default()) || wanted.contains(c.connection_name().unwrap_or_default()));
        aws::reads::each(ctx, "codestar-connections", relevant, |c| {
            let owned = &owned;
            async move {
                let arn = c.connection_arn().unwrap_or_default().to_string();
                let tags = super::tags_or_list!(owned, &arn, cs.list_tags_for_resource().resource_arn(&arn));
                let name = c.connection_name().unwrap_or_default().to_string();
                let note = match c.connection_status().map(|s| s.as_str()) {
                    Some("PENDING") => Some(handshake(&name)),
                    Some("ERROR") => Some("connection is in ERROR: delete it in the console's Connections page and apply again to recreate it".to_string()),
                    Some(s) => Some(format!("connection status: {s}")),
                    None => None,
                };
                let state = State {
                    name,
                    provider_type: c.provider_type().map(|p| p.as_str().to_string()).unwrap_or_default(),
                    host_arn: c.host_arn().map(str::to_string),
                    tags,
                };
                let mut live = Live::new(state).attr("arn", arn);
                live.notes.extend(note);
                Ok(live)
            }
        })
        .await
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let out = op
            .aws
            .connections()
            .create_connection()
            .connection_name(&s.name)
            .set_provider_type(s.host_arn.is_none().then(|| ProviderType::from(s.provider_type.as_str())))
            .set_host_arn(s.host_arn.clone())
            .set_tags(Some(sdk_tags(&s.tags)))
            .send()
            .await
            .op("CreateConnection")?;
        Ok(BTreeMap::from([("arn".to_string(), out.connection_arn)]))
    }

    /// Everything but the tags is fixed at creation (the table makes those changes replaces).
    async fn update(&self, _op: &Op<'_>, _s: &State, _live: &Live<State>) -> Result<()> {
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let (cs, arn) = (op.aws.connections(), live.attrs.get("arn").cloned().unwrap_or_default());
        if !set.is_empty() {
            cs.tag_resource().resource_arn(&arn).set_tags(Some(sdk_tags(set))).send().await.op("TagResource")?;
        }
        if !remove.is_empty() {
            cs.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagResource")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        let Some(arn) = live.attrs.get("arn") else { return Ok(()) };
        op.aws.connections().delete_connection().connection_arn(arn).send().await.op("DeleteConnection").map(|_| ())
    }
}
