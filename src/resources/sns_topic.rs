//! `sns_topic`: the approval topic and its subscriptions.
//!
//! An e-mail subscription waiting for confirmation counts as present when the stack declares it.
//! One the stack no longer declares cannot be removed yet (AWS gives it no ARN until it is
//! confirmed, and drops it unconfirmed after three days): the plan says so, it is not a change.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_sns::types::Tag;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub struct SnsTopic;

const PENDING: &str = "PendingConfirmation";

const SUBSCRIPTION: &[Field] = &[
    field("protocol", Ty::Enum(&["email", "email-json", "http", "https", "sqs", "lambda", "sms", "firehose", "application"]), "how to deliver").required(),
    field("endpoint", STRING, "where to deliver (an e-mail address, a URL, an ARN)").required(),
];

pub static SCHEMA: Schema = Schema {
    kind: "sns_topic",
    summary: "An SNS topic with its subscriptions: the approval notifications.",
    notes: "Subscriptions are kept exactly. An e-mail subscription awaiting confirmation counts as present and is shown as a note; one removed from the stack while still pending cannot be deleted (AWS drops it after three days) and is not a change.",
    fields: &[
        field("name", text_matching(1, 256, Pattern { describe: "letters, digits, `-` or `_`", check: |s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') }), "topic name")
            .required()
            .replace("SNS topics cannot be renamed"),
        field("display_name", text(0, 100), "the name in notifications"),
        field("attributes", Ty::Map(&STRING), "extra topic attributes, compared only for the keys given").default(Lit::EmptyMap),
        field("subscriptions", Ty::Set(&Ty::Struct(SUBSCRIPTION)), "who is notified").default(Lit::EmptyList),
        TAGS,
    ],
    attributes: &[attr("name", "topic name"), attr("arn", "topic ARN")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 5,
    not_found: &["NotFound", "NotFoundException"],
    already_exists: &[],
};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subscription {
    protocol: String,
    endpoint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    display_name: Option<String>,
    attributes: BTreeMap<String, String>,
    subscriptions: Vec<Subscription>,
    tags: Tags,
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

fn topic_arn(ctx: &Ctx, name: &str) -> String {
    ctx.arn("sns", name)
}

/// The key under which a confirmed subscription's ARN is kept in the live attributes.
fn sub_key(s: &Subscription) -> String {
    format!("subscription {}:{}", s.protocol, s.endpoint)
}

#[async_trait]
impl Resource for SnsTopic {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn normalize(&self, _ctx: &Ctx, s: &mut State) {
        s.subscriptions.sort();
        s.subscriptions.dedup();
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(topic_arn(ctx, &s.name)));
        a
    }

    fn notes(&self, _ctx: &Ctx, s: &State) -> Vec<String> {
        s.subscriptions
            .iter()
            .filter(|x| x.protocol.starts_with("email"))
            .map(|x| format!("a confirmation e-mail goes to {}: approval requests reach it only once the link in it is clicked", x.endpoint))
            .collect()
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let sns = ctx.aws.sns();
        let wanted: BTreeMap<String, &State> = wanted.iter().map(|w| (topic_arn(ctx, &w.name), w)).collect();
        // The stack's tagged topics, the account's topics and every subscription of the account (in
        // a few pages, rather than one call per topic): three listings at once, one round trip.
        let (owned, topics, subs) = tokio::try_join!(
            async { Ok::<BTreeMap<String, Tags>, crate::Error>(reads.tagged(&ctx.aws, "sns").await?.into_iter().map(|t| (t.arn, t.tags)).collect()) },
            async {
                let mut topics = BTreeSet::new();
                let mut pages = sns.list_topics().into_paginator().send();
                while let Some(page) = pages.next().await {
                    topics.extend(page.op("ListTopics")?.topics().iter().filter_map(|t| t.topic_arn().map(str::to_string)));
                }
                Ok(topics)
            },
            async {
                let mut subs: BTreeMap<String, Vec<(Subscription, String)>> = BTreeMap::new();
                let mut pages = sns.list_subscriptions().into_paginator().send();
                while let Some(page) = pages.next().await {
                    for s in page.op("ListSubscriptions")?.subscriptions() {
                        let sub =
                            Subscription { protocol: s.protocol().unwrap_or_default().to_string(), endpoint: s.endpoint().unwrap_or_default().to_string() };
                        subs.entry(s.topic_arn().unwrap_or_default().to_string()).or_default().push((sub, s.subscription_arn().unwrap_or(PENDING).to_string()));
                    }
                }
                Ok(subs)
            },
        )?;
        let relevant: Vec<String> = topics.into_iter().filter(|a| owned.contains_key(a) || wanted.contains_key(a)).collect();
        aws::reads::each(ctx, "sns", relevant, |arn| {
            let (owned, w, subs) = (&owned, wanted.get(&arn).copied(), subs.get(&arn).cloned().unwrap_or_default());
            async move {
                let tags = super::tags_or_list!(owned, &arn, sns.list_tags_for_resource().resource_arn(&arn));
                // Topic attributes only when the stack sets some (unset ones are not compared).
                let attrs = match w.filter(|w| w.display_name.is_some() || !w.attributes.is_empty()) {
                    Some(_) => sns.get_topic_attributes().topic_arn(&arn).send().await.op("GetTopicAttributes")?.attributes.unwrap_or_default(),
                    None => Default::default(),
                };
                let declared: Vec<Subscription> = w.map(|w| w.subscriptions.clone()).unwrap_or_default();
                let mut live_subs = Vec::new();
                let mut notes = Vec::new();
                let mut ids = BTreeMap::new();
                for (s, sub_arn) in subs {
                    if sub_arn != PENDING {
                        ids.insert(sub_key(&s), sub_arn);
                        live_subs.push(s);
                    } else if declared.contains(&s) {
                        notes.push(format!(
                            "subscription {}:{} is pending confirmation: click the link in the e-mail AWS sent (it is resent by removing and re-adding the subscription)",
                            s.protocol, s.endpoint
                        ));
                        live_subs.push(s);
                    } else if w.is_some() {
                        notes.push(format!(
                            "subscription {}:{} is no longer in the stack but still awaits confirmation: AWS cannot delete it yet (it expires unconfirmed after three days)",
                            s.protocol, s.endpoint
                        ));
                    }
                }
                live_subs.sort();
                live_subs.dedup();
                let state = State {
                    name: arn.rsplit(':').next().unwrap_or_default().to_string(),
                    display_name: attrs.get("DisplayName").filter(|d| !d.is_empty()).cloned(),
                    attributes: w.map(|w| w.attributes.keys().filter_map(|k| attrs.get(k).map(|v| (k.clone(), v.clone()))).collect()).unwrap_or_default(),
                    subscriptions: live_subs,
                    tags,
                };
                let mut live = Live::new(state).attr("arn", arn.clone());
                live.attrs.extend(ids);
                live.notes = notes;
                Ok(live)
            }
        })
        .await
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let mut attributes = s.attributes.clone();
        if let Some(d) = &s.display_name {
            attributes.insert("DisplayName".into(), d.clone());
        }
        let out = op
            .aws
            .sns()
            .create_topic()
            .name(&s.name)
            .set_attributes(Some(attributes.into_iter().collect()))
            .set_tags(Some(sdk_tags(&s.tags)))
            .send()
            .await
            .op("CreateTopic")?;
        let arn = out.topic_arn.unwrap_or_else(|| topic_arn(op, &s.name));
        futures::future::try_join_all(s.subscriptions.iter().map(|sub| subscribe(op, &arn, sub))).await?;
        Ok(BTreeMap::from([("arn".to_string(), arn)]))
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        let (sns, l) = (op.aws.sns(), &live.state);
        let arn = topic_arn(op, &s.name);
        let mut set: Vec<(String, String)> =
            s.attributes.iter().filter(|(k, v)| l.attributes.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
        if s.display_name != l.display_name {
            set.push(("DisplayName".into(), s.display_name.clone().unwrap_or_default()));
        }
        for (k, v) in set {
            sns.set_topic_attributes().topic_arn(&arn).attribute_name(&k).attribute_value(v).send().await.op("SetTopicAttributes")?;
        }
        for sub in s.subscriptions.iter().filter(|x| !l.subscriptions.contains(x)) {
            subscribe(op, &arn, sub).await?;
        }
        for sub in l.subscriptions.iter().filter(|x| !s.subscriptions.contains(x)) {
            // Only confirmed subscriptions are in the live state without being declared.
            if let Some(sub_arn) = live.attrs.get(&sub_key(sub)) {
                sns.unsubscribe().subscription_arn(sub_arn).send().await.op("Unsubscribe")?;
            }
        }
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let (sns, arn) = (op.aws.sns(), topic_arn(op, &live.state.name));
        if !set.is_empty() {
            sns.tag_resource().resource_arn(&arn).set_tags(Some(sdk_tags(set))).send().await.op("TagResource")?;
        }
        if !remove.is_empty() {
            sns.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagResource")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        // Deleting the topic removes its subscriptions, pending ones included.
        op.aws.sns().delete_topic().topic_arn(topic_arn(op, &live.state.name)).send().await.op("DeleteTopic").map(|_| ())
    }
}

async fn subscribe(op: &Op<'_>, topic: &str, sub: &Subscription) -> Result<()> {
    op.aws.sns().subscribe().topic_arn(topic).protocol(&sub.protocol).endpoint(&sub.endpoint).send().await.op("Subscribe").map(|_| ())
}
