//! `events_rule`: an EventBridge rule on the default event bus, with its targets: a schedule
//! (`rate(1 day)`) or an event pattern that starts something, e.g. a CodeBuild drift check.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_eventbridge::types::{RuleState, Tag, Target as SdkTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct EventsRule;

const NAME: Pattern = Pattern { describe: "letters, digits, `.`, `-` or `_`", check: |s| s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) };

/// An event pattern compared by meaning: key order does not matter.
static PATTERN: Document =
    Document { name: "event pattern", canonical: sort_keys, check: |v| if v.is_object() { Ok(()) } else { Err("must be a mapping".into()) } };

const TARGET: &[Field] = &[
    field("id", text_matching(1, 64, NAME), "the target's id within the rule").required(),
    field("arn", STRING, "what is started: a CodeBuild project, an SNS topic, ... (ARN)").required(),
    field("role_arn", STRING, "the role EventBridge assumes to start it (CodeBuild needs one)"),
    field("input", STRING, "fixed JSON text passed instead of the event"),
];

pub static SCHEMA: Schema = Schema {
    kind: "events_rule",
    summary: "An EventBridge rule on the default bus, with its targets: a schedule or an event pattern.",
    notes: "Give `schedule_expression` (`rate(1 day)`, `cron(0 6 * * ? *)`), `event_pattern`, or both. Targets are kept exactly: one removed from the stack is removed from the rule.",
    fields: &[
        field("name", text_matching(1, 64, NAME), "rule name").required().replace("EventBridge rules cannot be renamed"),
        field("description", text(0, 512), "what the rule is for"),
        field("schedule_expression", text(1, 256), "`rate(...)` or `cron(...)`"),
        field("event_pattern", Ty::Doc(&PATTERN), "the events that match"),
        field("state", Ty::Enum(&["ENABLED", "DISABLED"]), "whether the rule fires").default(Lit::Str("ENABLED")),
        field("targets", Ty::Keyed(TARGET, "id"), "what the rule starts").default(Lit::EmptyList),
        TAGS,
    ],
    attributes: &[attr("name", "rule name"), attr("arn", "rule ARN")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    // A rule starts projects and publishes to topics: it goes before them.
    rank: 8,
    not_found: &["ResourceNotFoundException"],
    already_exists: &[],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    description: Option<String>,
    schedule_expression: Option<String>,
    event_pattern: Option<Value>,
    state: String,
    targets: Vec<Target>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    id: String,
    arn: String,
    role_arn: Option<String>,
    input: Option<String>,
}

fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, x)| (k, sort_keys(x))).collect();
            Value::Object(sorted.into_iter().map(|(k, x)| (k.clone(), x)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().expect("key and value set")).collect()
}

fn rule_arn(ctx: &Ctx, name: &str) -> String {
    ctx.arn("events", &format!("rule/{name}"))
}

fn sdk_target(t: &Target) -> Result<SdkTarget> {
    SdkTarget::builder()
        .id(&t.id)
        .arn(&t.arn)
        .set_role_arn(t.role_arn.clone())
        .set_input(t.input.clone())
        .build()
        .map_err(|e| crate::Error::internal(e.to_string()))
}

#[async_trait]
impl Resource for EventsRule {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn check(&self, props: &Value) -> Vec<PropError> {
        if props["schedule_expression"].is_null() && props["event_pattern"].is_null() {
            return vec![PropError::at(
                keys(&["schedule_expression"]),
                "a rule needs `schedule_expression` or `event_pattern`",
                "add `schedule_expression: rate(1 day)` for a daily run, or an `event_pattern` for the events that should start the targets",
            )];
        }
        Vec::new()
    }

    fn normalize(&self, _ctx: &Ctx, s: &mut State) {
        s.targets.sort_by(|a, b| a.id.cmp(&b.id));
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(rule_arn(ctx, &s.name)));
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let events = ctx.aws.events();
        let owned: BTreeMap<String, Tags> = reads.tagged(&ctx.aws, "events").await?.into_iter().map(|t| (t.arn, t.tags)).collect();
        let wanted: BTreeSet<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
        // ListRules carries every field of a rule: no DescribeRule per rule.
        let mut rules = Vec::new();
        let mut token = None;
        loop {
            let page = events.list_rules().set_next_token(token).limit(100).send().await.op("ListRules")?;
            rules.extend(page.rules.unwrap_or_default());
            token = page.next_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
        let relevant = rules.into_iter().filter(|r| owned.contains_key(r.arn().unwrap_or_default()) || wanted.contains(r.name().unwrap_or_default()));
        aws::reads::each(ctx, "events", relevant, |rule| {
            let owned = &owned;
            async move {
                let arn = rule.arn().unwrap_or_default().to_string();
                let name = rule.name().unwrap_or_default().to_string();
                let tags = super::tags_or_list!(owned, &arn, events.list_tags_for_resource().resource_arn(&arn));
                let mut targets = Vec::new();
                let mut token = None;
                loop {
                    let page = events.list_targets_by_rule().rule(&name).set_next_token(token).send().await.op("ListTargetsByRule")?;
                    targets.extend(page.targets().iter().map(|t| Target {
                        id: t.id().to_string(),
                        arn: t.arn().to_string(),
                        role_arn: t.role_arn().map(str::to_string),
                        input: t.input().map(str::to_string),
                    }));
                    token = page.next_token.filter(|t| !t.is_empty());
                    if token.is_none() {
                        break;
                    }
                }
                targets.sort_by(|a, b| a.id.cmp(&b.id));
                let state = State {
                    name,
                    description: rule.description().filter(|d| !d.is_empty()).map(str::to_string),
                    schedule_expression: rule.schedule_expression().map(str::to_string),
                    event_pattern: rule.event_pattern().and_then(|p| serde_json::from_str(p).ok()),
                    state: rule.state().map(|s| s.as_str().to_string()).unwrap_or_else(|| "ENABLED".into()),
                    targets,
                    tags,
                };
                Ok(Live::new(state).attr("arn", arn))
            }
        })
        .await
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let arn = put_rule(op, s, Some(&s.tags)).await?;
        put_targets(op, &s.name, &s.targets).await?;
        Ok(BTreeMap::from([("arn".to_string(), arn)]))
    }

    async fn update(&self, op: &Op<'_>, s: &State, live: &Live<State>) -> Result<()> {
        let l = &live.state;
        let pattern_changed = s.event_pattern.as_ref().map(sort_keys) != l.event_pattern.as_ref().map(sort_keys);
        if s.description != l.description || s.schedule_expression != l.schedule_expression || pattern_changed || s.state != l.state {
            // PutRule replaces the rule's definition; tags are left as they are.
            put_rule(op, s, None).await?;
        }
        let changed: Vec<Target> = s.targets.iter().filter(|t| !l.targets.contains(t)).cloned().collect();
        put_targets(op, &s.name, &changed).await?;
        let gone: Vec<String> = l.targets.iter().filter(|t| !s.targets.iter().any(|d| d.id == t.id)).map(|t| t.id.clone()).collect();
        remove_targets(op, &s.name, gone).await
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let events = op.aws.events();
        let arn = live.attrs.get("arn").cloned().unwrap_or_else(|| rule_arn(op, &live.state.name));
        if !set.is_empty() {
            events.tag_resource().resource_arn(&arn).set_tags(Some(sdk_tags(set))).send().await.op("TagResource")?;
        }
        if !remove.is_empty() {
            events.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagResource")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        // EventBridge refuses to delete a rule that still has targets.
        remove_targets(op, &live.state.name, live.state.targets.iter().map(|t| t.id.clone()).collect()).await?;
        op.aws.events().delete_rule().name(&live.state.name).send().await.op("DeleteRule").map(|_| ())
    }
}

async fn put_rule(op: &Op<'_>, s: &State, tags: Option<&Tags>) -> Result<String> {
    let out = op
        .aws
        .events()
        .put_rule()
        .name(&s.name)
        .set_description(s.description.clone())
        .set_schedule_expression(s.schedule_expression.clone())
        .set_event_pattern(s.event_pattern.as_ref().map(Value::to_string))
        .state(RuleState::from(s.state.as_str()))
        .set_tags(tags.map(sdk_tags))
        .send()
        .await
        .op("PutRule")?;
    Ok(out.rule_arn.unwrap_or_else(|| rule_arn(op, &s.name)))
}

/// PutTargets takes at most ten targets a call, and reports failures per target.
async fn put_targets(op: &Op<'_>, rule: &str, targets: &[Target]) -> Result<()> {
    for chunk in targets.chunks(10) {
        let sdk = chunk.iter().map(sdk_target).collect::<Result<Vec<_>>>()?;
        let out = op.aws.events().put_targets().rule(rule).set_targets(Some(sdk)).send().await.op("PutTargets")?;
        if let Some(f) = out.failed_entries().first() {
            return Err(aws::AwsError {
                code: f.error_code().unwrap_or("FailedEntry").to_string(),
                message: format!("target {}: {}", f.target_id().unwrap_or("?"), f.error_message().unwrap_or("refused")),
                class: crate::error::Class::Invalid,
                status: None,
            }
            .op("PutTargets"));
        }
    }
    Ok(())
}

async fn remove_targets(op: &Op<'_>, rule: &str, ids: Vec<String>) -> Result<()> {
    for chunk in ids.chunks(10) {
        let r = op.aws.events().remove_targets().rule(rule).set_ids(Some(chunk.to_vec())).send().await.op("RemoveTargets");
        aws::absent(r, &["ResourceNotFoundException"])?;
    }
    Ok(())
}
