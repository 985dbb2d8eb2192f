//! `sns_topic`: the approval topic and its subscriptions.
//!
//! A subscription waiting for its e-mail confirmation counts as present (it is not drift, and it
//! never blocks destroy); the plan shows it as a note.
//!
//! ```yaml
//! sns_topic.approval:
//!   name: eks-devops-topic1
//!   display_name: eks-devops-topic1
//!   subscriptions:
//!     - { protocol: email, endpoint: "${var.approval_email}" }
//! ```

use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError};
use crate::aws;
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct SnsTopic;

const PENDING: &str = "PendingConfirmation";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
    /// Extra topic attributes; only the keys given are compared.
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    subscriptions: Vec<Subscription>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Subscription {
    protocol: String,
    endpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    display_name: Option<String>,
    attributes: BTreeMap<String, Option<String>>,
    subscriptions: Vec<Subscription>,
    tags: BTreeMap<String, String>,
}

fn address(name: &str) -> String {
    format!("sns_topic {name}")
}

fn topic_arn(ctx: &Ctx, name: &str) -> String {
    ctx.arn("sns", name)
}

#[async_trait]
impl Kind for SnsTopic {
    fn kind(&self) -> &'static str {
        "sns_topic"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        const PROTOCOLS: &[&str] = &["email", "email-json", "http", "https", "sqs", "lambda", "sms", "firehose", "application"];
        for (i, s) in p.subscriptions.iter().enumerate() {
            if !PROTOCOLS.contains(&s.protocol.as_str()) {
                return Err(PropError {
                    path: vec![PathSeg::Key("subscriptions".into()), PathSeg::Index(i), PathSeg::Key("protocol".into())],
                    message: format!("unknown protocol `{}`", s.protocol),
                    help: Some(format!("use one of: {}", PROTOCOLS.join(", "))),
                });
            }
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let mut subs = p.subscriptions.clone();
        subs.sort();
        subs.dedup();
        let state = State {
            name: p.name.clone(),
            display_name: p.display_name,
            attributes: p.attributes.into_iter().map(|(k, v)| (k, Some(v))).collect(),
            subscriptions: subs,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, _live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), Some(topic_arn(ctx, &desired.name)));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[("name", "SNS topics cannot be renamed")]
    }

    fn notes_after_create(&self, desired: &Desired) -> Vec<String> {
        email_subscriptions(desired)
            .map(|e| format!("a confirmation e-mail goes to {e}: approval requests reach it only once the link in it is clicked"))
            .collect()
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let sns = ctx.aws.sns();
        let arn = topic_arn(ctx, &desired.name);
        let addr = address(&desired.name);
        let attrs = match sns.get_topic_attributes().topic_arn(&arn).send().await {
            Ok(o) => o.attributes.unwrap_or_default(),
            Err(e) => {
                let e = aws::error(e);
                if e.is("NotFound") || e.is("NotFoundException") {
                    return Ok(None);
                }
                return Err(e.at(addr, "GetTopicAttributes"));
            }
        };
        let (tags, subs) = futures::try_join!(
            async {
                sns.list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map(|o| o.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect::<BTreeMap<_, _>>())
                    .map_err(|e| aws::error(e).at(&addr, "ListTagsForResource"))
            },
            list_subscriptions(ctx, &arn, &addr)
        )?;
        let mut notes = Vec::new();
        for (s, sub_arn) in &subs {
            if sub_arn == PENDING {
                notes.push(format!(
                    "subscription {}:{} is pending confirmation: click the link in the e-mail AWS sent (it is resent by removing and re-adding the subscription)",
                    s.protocol, s.endpoint
                ));
            }
        }
        let mut list: Vec<Subscription> = subs.into_iter().map(|(s, _)| s).collect();
        list.sort();
        list.dedup();
        // Only the attributes the stack names are compared.
        let wanted: BTreeMap<String, Option<String>> = desired.state["attributes"]
            .as_object()
            .map(|m| m.keys().map(|k| (k.clone(), attrs.get(k).cloned())).collect())
            .unwrap_or_default();
        let state = State {
            name: desired.name.clone(),
            display_name: attrs.get("DisplayName").filter(|d| !d.is_empty()).cloned(),
            attributes: wanted,
            subscriptions: list,
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        live.notes = notes;
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let sns = ctx.aws.sns();
        let mut attributes: BTreeMap<String, String> = s.attributes.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        if let Some(d) = &s.display_name {
            attributes.insert("DisplayName".into(), d.clone());
        }
        let out = sns
            .create_topic()
            .name(&s.name)
            .set_attributes(Some(attributes.into_iter().collect()))
            .set_tags(Some(sdk_tags(&s.tags)?))
            .send()
            .await
            .map_err(|e| aws::error(e).at(address(&s.name), "CreateTopic"))?;
        let arn = out.topic_arn.unwrap_or_else(|| topic_arn(ctx, &s.name));
        futures::future::try_join_all(s.subscriptions.iter().map(|sub| subscribe(ctx, &arn, &s.name, sub))).await?;
        Ok(BTreeMap::from([("arn".to_string(), arn)]))
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let sns = ctx.aws.sns();
        let arn = topic_arn(ctx, &s.name);
        let addr = address(&s.name);
        let changed = |f: &str| changes.iter().any(|c| c.field() == f);
        let mut set: Vec<(String, String)> = Vec::new();
        if changed("display_name") {
            set.push(("DisplayName".into(), s.display_name.clone().unwrap_or_default()));
        }
        for (k, v) in &s.attributes {
            if l.attributes.get(k) != Some(v) {
                set.push((k.clone(), v.clone().unwrap_or_default()));
            }
        }
        for (k, v) in set {
            sns.set_topic_attributes()
                .topic_arn(&arn)
                .attribute_name(&k)
                .attribute_value(v)
                .send()
                .await
                .map_err(|e| aws::error(e).at(&addr, "SetTopicAttributes"))?;
        }
        if changed("subscriptions") {
            for sub in s.subscriptions.iter().filter(|x| !l.subscriptions.contains(x)) {
                subscribe(ctx, &arn, &s.name, sub).await?;
            }
            let current = list_subscriptions(ctx, &arn, &addr).await?;
            for (sub, sub_arn) in current.iter().filter(|(x, _)| !s.subscriptions.contains(x)) {
                if sub_arn == PENDING {
                    // AWS gives a pending subscription no ARN, so it cannot be removed; it expires
                    // after three days unconfirmed.
                    continue;
                }
                sns.unsubscribe().subscription_arn(sub_arn).send().await.map_err(|e| aws::error(e).at(format!("{addr} ({}:{})", sub.protocol, sub.endpoint), "Unsubscribe"))?;
            }
        }
        if changed("tags") {
            let (add, remove) = tag_delta(&s.tags, &l.tags);
            if !add.is_empty() {
                sns.tag_resource().resource_arn(&arn).set_tags(Some(sdk_tags(&add)?)).send().await.map_err(|e| aws::error(e).at(&addr, "TagResource"))?;
            }
            if !remove.is_empty() {
                sns.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove)).send().await.map_err(|e| aws::error(e).at(&addr, "UntagResource"))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        // Deleting the topic removes its subscriptions, pending ones included.
        let r = ctx.aws.sns().delete_topic().topic_arn(topic_arn(ctx, &desired.name)).send().await;
        aws::gone_ok(r, &["NotFound", "NotFoundException"], address(&desired.name), "DeleteTopic")
    }
}

fn email_subscriptions(desired: &Desired) -> impl Iterator<Item = String> + '_ {
    desired.state["subscriptions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["protocol"].as_str().is_some_and(|p| p.starts_with("email")))
        .filter_map(|s| s["endpoint"].as_str().map(str::to_string))
}

fn sdk_tags(tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| crate::Error::user(e.to_string(), "check the tags")))
        .collect()
}

async fn subscribe(ctx: &Ctx, topic: &str, name: &str, sub: &Subscription) -> Result<()> {
    ctx.aws
        .sns()
        .subscribe()
        .topic_arn(topic)
        .protocol(&sub.protocol)
        .endpoint(&sub.endpoint)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws::error(e).at(format!("{} ({}:{})", address(name), sub.protocol, sub.endpoint), "Subscribe"))
}

/// (subscription, its ARN or `PendingConfirmation`).
async fn list_subscriptions(ctx: &Ctx, topic: &str, addr: &str) -> Result<Vec<(Subscription, String)>> {
    let mut out = Vec::new();
    let mut pages = ctx.aws.sns().list_subscriptions_by_topic().topic_arn(topic).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws::error(e).at(addr, "ListSubscriptionsByTopic"))?;
        for s in page.subscriptions() {
            out.push((
                Subscription { protocol: s.protocol().unwrap_or_default().to_string(), endpoint: s.endpoint().unwrap_or_default().to_string() },
                s.subscription_arn().unwrap_or(PENDING).to_string(),
            ));
        }
    }
    Ok(out)
}
