//! `codepipeline`: the pipeline (V2, QUEUED in the seed): Source -> Build -> approval -> Deploy.
//!
//! Stages and actions use CodePipeline's own vocabulary (category, provider, configuration).
//! Creating or updating the pipeline right after its role is created is retried while IAM
//! propagates ("CodePipeline is not authorized to perform AssumeRole").

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType, ExecutionMode, GitBranchFilterCriteria, GitConfiguration,
    GitFilePathFilterCriteria, GitPullRequestEventType, GitPullRequestFilter, GitPushFilter, GitTagFilterCriteria, InputArtifact, OutputArtifact,
    PipelineDeclaration, PipelineTriggerDeclaration, PipelineTriggerProviderType, PipelineType, StageDeclaration, Tag,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct Codepipeline;

const ACTION: &[Field] = &[
    field("name", text(1, 100), "action name").required(),
    field("category", Ty::Enum(&["Source", "Build", "Test", "Deploy", "Approval", "Invoke", "Compute"]), "what the action does").required(),
    field("owner", Ty::Enum(&["AWS", "ThirdParty", "Custom"]), "who provides it").default(Lit::Str("AWS")),
    field("provider", text(1, 35), "e.g. `CodeStarSourceConnection`, `CodeBuild`, `Manual`").required(),
    field("version", text(1, 9), "the action type's version").default(Lit::Str("1")),
    field("configuration", Ty::Map(&STRING), "the provider's settings").default(Lit::EmptyMap),
    field("input_artifacts", Ty::List(&STRING), "artifacts it reads: outputs of earlier actions").default(Lit::EmptyList),
    field("output_artifacts", Ty::List(&STRING), "artifacts it writes").default(Lit::EmptyList),
    field("run_order", Ty::Int(1, 999), "order within the stage").default(Lit::Int(1)),
    field("region", STRING, "for cross-region actions"),
    field("namespace", STRING, "variable namespace"),
];

const PATTERNS: &[Field] = &[
    field("includes", Ty::List(&STRING), "glob patterns that start a run").default(Lit::EmptyList),
    field("excludes", Ty::List(&STRING), "glob patterns that never do").default(Lit::EmptyList),
];

const PUSH: &[Field] = &[
    field("branches", Ty::Struct(PATTERNS), "branches pushed to"),
    field("file_paths", Ty::Struct(PATTERNS), "files the push changes"),
    field("tags", Ty::Struct(PATTERNS), "git tags pushed"),
];

const PULL_REQUEST: &[Field] = &[
    field("events", Ty::Set(&Ty::Enum(&["OPEN", "UPDATED", "CLOSED"])), "pull-request events that start a run").required(),
    field("branches", Ty::Struct(PATTERNS), "the pull request's target branches"),
    field("file_paths", Ty::Struct(PATTERNS), "files the pull request changes"),
];

const TRIGGER: &[Field] = &[
    field("source_action", text(1, 100), "the first stage's CodeStarSourceConnection action the trigger starts").required(),
    field("push", Ty::List(&Ty::Struct(PUSH)), "push filters").default(Lit::EmptyList),
    field("pull_request", Ty::List(&Ty::Struct(PULL_REQUEST)), "pull-request filters").default(Lit::EmptyList),
];

const STAGE: &[Field] =
    &[field("name", text(1, 100), "stage name").required(), field("actions", Ty::List(&Ty::Struct(ACTION)), "the stage's actions").required()];

pub static SCHEMA: Schema = Schema {
    kind: "codepipeline",
    summary: "A CodePipeline pipeline with an S3 artifact store.",
    notes: "A change to stages is shown as a unified diff of the stages. Every input artifact must be an earlier action's output, and only the first stage holds Source actions (checked at validate).",
    fields: &[
        field("name", text_matching(1, 100, Pattern { describe: "letters, digits, `.`, `@`, `-` or `_`", check: |s| s.chars().all(|c| c.is_ascii_alphanumeric() || ".@-_".contains(c)) }), "pipeline name")
            .required()
            .replace("pipelines cannot be renamed"),
        field("pipeline_type", Ty::Enum(&["V1", "V2"]), "pipeline type"),
        field("execution_mode", Ty::Enum(&["QUEUED", "SUPERSEDED", "PARALLEL"]), "how concurrent runs behave"),
        field("role_arn", STRING, "the pipeline's service role").required(),
        field("artifact_bucket", STRING, "S3 bucket name of the artifact store").required(),
        field("stages", Ty::List(&Ty::Struct(STAGE)), "at least two stages; the first holds only Source actions").required(),
        field("triggers", Ty::List(&Ty::Struct(TRIGGER)), "V2: git events that start a run (e.g. pull requests, for plans); none: every push to the source branch")
            .default(Lit::EmptyList),
        TAGS,
    ],
    attributes: &[attr("name", "pipeline name"), attr("arn", "pipeline ARN")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 8,
    not_found: &["PipelineNotFoundException"],
    already_exists: &["PipelineNameInUseException"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    pipeline_type: Option<String>,
    execution_mode: Option<String>,
    role_arn: String,
    artifact_bucket: String,
    stages: Vec<Stage>,
    triggers: Vec<Trigger>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    source_action: String,
    push: Vec<GitFilter>,
    pull_request: Vec<GitFilter>,
}

/// A push or pull-request filter (`events` only for pull requests, `tags` only for pushes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GitFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    events: Vec<String>,
    branches: Option<Patterns>,
    file_paths: Option<Patterns>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tags: Option<Patterns>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patterns {
    includes: Vec<String>,
    excludes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    name: String,
    actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    name: String,
    category: String,
    owner: String,
    provider: String,
    version: String,
    configuration: BTreeMap<String, String>,
    input_artifacts: Vec<String>,
    output_artifacts: Vec<String>,
    run_order: i32,
    region: Option<String>,
    namespace: Option<String>,
}

fn sdk_tags(tags: &Tags) -> Result<Vec<Tag>> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(|e| crate::Error::internal(e.to_string()))).collect()
}

/// Structural rules CodePipeline enforces, checked before any AWS call, located at the node.
fn check_structure(props: &Value) -> Vec<PropError> {
    let stages = props["stages"].as_array().cloned().unwrap_or_default();
    let stage_path = |i: usize| vec![PathSeg::Key("stages".into()), PathSeg::Index(i)];
    let action_path = |i: usize, j: usize, field: &str| {
        let mut v = stage_path(i);
        v.extend([PathSeg::Key("actions".into()), PathSeg::Index(j), PathSeg::Key(field.into())]);
        v
    };
    if stages.len() < 2 {
        return vec![PropError::at(
            keys(&["stages"]),
            format!("a pipeline needs at least 2 stages, found {}", stages.len()),
            "start with a Source stage and add at least one more (Build, Deploy, ...)",
        )];
    }
    let mut stage_names = BTreeSet::new();
    let mut produced: BTreeSet<String> = BTreeSet::new();
    for (i, st) in stages.iter().enumerate() {
        let name = st["name"].as_str().unwrap_or_default();
        if !stage_names.insert(name.to_string()) {
            let mut path = stage_path(i);
            path.push(PathSeg::Key("name".into()));
            return vec![PropError::at(path, format!("duplicate stage name `{name}`"), "stage names must be unique in a pipeline")];
        }
        let actions = st["actions"].as_array().cloned().unwrap_or_default();
        if actions.is_empty() {
            return vec![PropError::at(stage_path(i), format!("stage `{name}` has no actions"), "add at least one action")];
        }
        let mut action_names = BTreeSet::new();
        for (j, a) in actions.iter().enumerate() {
            let aname = a["name"].as_str().unwrap_or_default();
            if !action_names.insert(aname.to_string()) {
                return vec![PropError::at(
                    action_path(i, j, "name"),
                    format!("duplicate action name `{aname}` in stage `{name}`"),
                    "action names must be unique within a stage",
                )];
            }
            let category = a["category"].as_str().unwrap_or_default();
            let is_source = category == "Source";
            if i == 0 && !is_source {
                return vec![PropError::at(
                    action_path(i, j, "category"),
                    format!("the first stage may hold only Source actions, found {category}"),
                    "move this action to a later stage",
                )];
            }
            if i > 0 && is_source {
                return vec![PropError::at(
                    action_path(i, j, "category"),
                    "Source actions belong in the first stage only",
                    "move this action to the first stage",
                )];
            }
            for (k, input) in a["input_artifacts"].as_array().into_iter().flatten().enumerate() {
                let input = input.as_str().unwrap_or_default();
                if !produced.contains(input) {
                    let mut path = action_path(i, j, "input_artifacts");
                    path.push(PathSeg::Index(k));
                    return vec![PropError::at(
                        path,
                        format!("input artifact `{input}` is not produced by an earlier action"),
                        "name an `output_artifacts` entry of an action in an earlier stage",
                    )];
                }
            }
        }
        for a in &actions {
            produced.extend(a["output_artifacts"].as_array().into_iter().flatten().filter_map(|o| o.as_str().map(str::to_string)));
        }
    }
    check_triggers(props, &stages[0])
}

/// Triggers are V2's, and each names a connection source action of the first stage.
fn check_triggers(props: &Value, first_stage: &Value) -> Vec<PropError> {
    let triggers = props["triggers"].as_array().cloned().unwrap_or_default();
    if triggers.is_empty() {
        return Vec::new();
    }
    if props["pipeline_type"].as_str() != Some("V2") {
        return vec![PropError::at(keys(&["triggers"]), "triggers need a V2 pipeline", "set `pipeline_type: V2`")];
    }
    let sources: Vec<&str> = first_stage["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["provider"].as_str() == Some("CodeStarSourceConnection"))
        .filter_map(|a| a["name"].as_str())
        .collect();
    for (i, t) in triggers.iter().enumerate() {
        let path = || vec![PathSeg::Key("triggers".into()), PathSeg::Index(i)];
        let name = t["source_action"].as_str().unwrap_or_default();
        if !sources.contains(&name) {
            let mut at = path();
            at.push(PathSeg::Key("source_action".into()));
            return vec![PropError::at(
                at,
                format!("`{name}` is not a CodeStarSourceConnection action of the first stage"),
                if sources.is_empty() {
                    "triggers start runs from a connection source: add one to the first stage".to_string()
                } else {
                    format!("name one of: {}", sources.join(", "))
                },
            )];
        }
        let empty = |k: &str| t[k].as_array().is_none_or(|v| v.is_empty());
        if empty("push") && empty("pull_request") {
            return vec![PropError::at(
                path(),
                "a trigger needs `push` or `pull_request` filters",
                "e.g. `pull_request: [{ events: [OPEN, UPDATED], branches: { includes: [main] } }]`",
            )];
        }
    }
    Vec::new()
}

#[async_trait]
impl Resource for Codepipeline {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn check(&self, props: &Value) -> Vec<PropError> {
        check_structure(props)
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(ctx.arn("codepipeline", &s.name)));
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let cp = ctx.aws.codepipeline();
        let owned: BTreeMap<String, Tags> =
            reads.tagged(&ctx.aws, "codepipeline").await?.into_iter().map(|t| (t.arn.rsplit(':').next().unwrap_or_default().to_string(), t.tags)).collect();
        let mut names: BTreeSet<String> = wanted.iter().map(|w| w.name.clone()).collect();
        names.extend(owned.keys().cloned());
        // No batch read: one GetPipeline per pipeline, all at once.
        let found = aws::reads::each(ctx, "codepipeline", names, |name| {
            let owned = &owned;
            async move {
                let Some(out) = aws::absent(cp.get_pipeline().name(&name).send().await.op("GetPipeline"), &["PipelineNotFoundException"])? else {
                    return Ok(None);
                };
                let Some(p) = out.pipeline() else { return Ok(None) };
                let arn = out.metadata().and_then(|m| m.pipeline_arn()).map(str::to_string).unwrap_or_else(|| ctx.arn("codepipeline", &name));
                let tags = super::tags_or_list!(owned, &name, cp.list_tags_for_resource().resource_arn(&arn));
                Ok(Some(Live::new(read(p, tags)).attr("arn", arn)))
            }
        })
        .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let decl = declaration(s)?;
        let tags = sdk_tags(&s.tags)?;
        let cp = op.aws.codepipeline();
        op.propagation("CreatePipeline", &s.role_arn, || async {
            cp.create_pipeline().pipeline(decl.clone()).set_tags(Some(tags.clone())).send().await.map_err(aws::error)
        })
        .await?;
        Ok(BTreeMap::from([("arn".to_string(), op.arn("codepipeline", &s.name))]))
    }

    async fn update(&self, op: &Op<'_>, s: &State, _live: &Live<State>) -> Result<()> {
        let decl = declaration(s)?;
        let cp = op.aws.codepipeline();
        op.propagation("UpdatePipeline", &s.role_arn, || async { cp.update_pipeline().pipeline(decl.clone()).send().await.map_err(aws::error) }).await?;
        Ok(())
    }

    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let cp = op.aws.codepipeline();
        let arn = live.attrs.get("arn").cloned().unwrap_or_else(|| op.arn("codepipeline", &live.state.name));
        if !set.is_empty() {
            cp.tag_resource().resource_arn(&arn).set_tags(Some(sdk_tags(set)?)).send().await.op("TagResource")?;
        }
        if !remove.is_empty() {
            cp.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove.to_vec())).send().await.op("UntagResource")?;
        }
        Ok(())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        op.aws.codepipeline().delete_pipeline().name(&live.state.name).send().await.op("DeletePipeline").map(|_| ())
    }
}

fn read(p: &PipelineDeclaration, tags: Tags) -> State {
    let stages = p
        .stages()
        .iter()
        .map(|s| Stage {
            name: s.name().to_string(),
            actions: s
                .actions()
                .iter()
                .map(|a| {
                    let t = a.action_type_id();
                    Action {
                        name: a.name().to_string(),
                        category: t.map(|t| t.category().as_str().to_string()).unwrap_or_default(),
                        owner: t.map(|t| t.owner().as_str().to_string()).unwrap_or_default(),
                        provider: t.map(|t| t.provider().to_string()).unwrap_or_default(),
                        version: t.map(|t| t.version().to_string()).unwrap_or_default(),
                        configuration: a.configuration().map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
                        input_artifacts: a.input_artifacts().iter().map(|i| i.name().to_string()).collect(),
                        output_artifacts: a.output_artifacts().iter().map(|o| o.name().to_string()).collect(),
                        run_order: a.run_order().unwrap_or(1),
                        region: a.region().map(str::to_string),
                        namespace: a.namespace().map(str::to_string),
                    }
                })
                .collect(),
        })
        .collect();
    let patterns = |includes: &[String], excludes: &[String]| {
        (!includes.is_empty() || !excludes.is_empty()).then(|| Patterns { includes: includes.to_vec(), excludes: excludes.to_vec() })
    };
    let branches = |b: Option<&GitBranchFilterCriteria>| b.and_then(|b| patterns(b.includes(), b.excludes()));
    let paths = |f: Option<&GitFilePathFilterCriteria>| f.and_then(|f| patterns(f.includes(), f.excludes()));
    let triggers = p
        .triggers()
        .iter()
        .filter_map(|t| t.git_configuration())
        .map(|g| Trigger {
            source_action: g.source_action_name().to_string(),
            push: g
                .push()
                .iter()
                .map(|f| GitFilter {
                    events: Vec::new(),
                    branches: branches(f.branches()),
                    file_paths: paths(f.file_paths()),
                    tags: f.tags().and_then(|t| patterns(t.includes(), t.excludes())),
                })
                .collect(),
            pull_request: g
                .pull_request()
                .iter()
                .map(|f| {
                    let mut events: Vec<String> = f.events().iter().map(|e| e.as_str().to_string()).collect();
                    events.sort();
                    GitFilter { events, branches: branches(f.branches()), file_paths: paths(f.file_paths()), tags: None }
                })
                .collect(),
        })
        .collect();
    State {
        name: p.name().to_string(),
        pipeline_type: p.pipeline_type().map(|t| t.as_str().to_string()),
        execution_mode: p.execution_mode().map(|m| m.as_str().to_string()),
        role_arn: p.role_arn().to_string(),
        artifact_bucket: p.artifact_store().map(|s| s.location().to_string()).unwrap_or_default(),
        stages,
        triggers,
        tags,
    }
}

fn declaration(s: &State) -> Result<PipelineDeclaration> {
    let bad = |e: aws_sdk_codepipeline::error::BuildError| crate::Error::internal(format!("pipeline {}: {e}", s.name));
    let stages = s
        .stages
        .iter()
        .map(|st| {
            let actions = st
                .actions
                .iter()
                .map(|a| {
                    let type_id = ActionTypeId::builder()
                        .category(ActionCategory::from(a.category.as_str()))
                        .owner(ActionOwner::from(a.owner.as_str()))
                        .provider(&a.provider)
                        .version(&a.version)
                        .build()
                        .map_err(bad)?;
                    ActionDeclaration::builder()
                        .name(&a.name)
                        .action_type_id(type_id)
                        .run_order(a.run_order)
                        .set_configuration(Some(a.configuration.clone().into_iter().collect()))
                        .set_input_artifacts(Some(
                            a.input_artifacts.iter().map(|n| InputArtifact::builder().name(n).build()).collect::<Result<_, _>>().map_err(bad)?,
                        ))
                        .set_output_artifacts(Some(
                            a.output_artifacts.iter().map(|n| OutputArtifact::builder().name(n).build()).collect::<Result<_, _>>().map_err(bad)?,
                        ))
                        .set_region(a.region.clone())
                        .set_namespace(a.namespace.clone())
                        .build()
                        .map_err(bad)
                })
                .collect::<Result<Vec<_>>>()?;
            StageDeclaration::builder().name(&st.name).set_actions(Some(actions)).build().map_err(bad)
        })
        .collect::<Result<Vec<_>>>()?;
    let store = ArtifactStore::builder().r#type(ArtifactStoreType::S3).location(&s.artifact_bucket).build().map_err(bad)?;
    let branches = |p: &Option<Patterns>| {
        p.as_ref().map(|p| GitBranchFilterCriteria::builder().set_includes(Some(p.includes.clone())).set_excludes(Some(p.excludes.clone())).build())
    };
    let paths = |p: &Option<Patterns>| {
        p.as_ref().map(|p| GitFilePathFilterCriteria::builder().set_includes(Some(p.includes.clone())).set_excludes(Some(p.excludes.clone())).build())
    };
    let triggers = s
        .triggers
        .iter()
        .map(|t| {
            let push = t
                .push
                .iter()
                .map(|f| {
                    let tags = f
                        .tags
                        .as_ref()
                        .map(|p| GitTagFilterCriteria::builder().set_includes(Some(p.includes.clone())).set_excludes(Some(p.excludes.clone())).build());
                    GitPushFilter::builder().set_branches(branches(&f.branches)).set_file_paths(paths(&f.file_paths)).set_tags(tags).build()
                })
                .collect();
            let pull_request = t
                .pull_request
                .iter()
                .map(|f| {
                    GitPullRequestFilter::builder()
                        .set_events(Some(f.events.iter().map(|e| GitPullRequestEventType::from(e.as_str())).collect()))
                        .set_branches(branches(&f.branches))
                        .set_file_paths(paths(&f.file_paths))
                        .build()
                })
                .collect();
            let git = GitConfiguration::builder()
                .source_action_name(&t.source_action)
                .set_push(Some(push))
                .set_pull_request(Some(pull_request))
                .build()
                .map_err(bad)?;
            PipelineTriggerDeclaration::builder()
                .provider_type(PipelineTriggerProviderType::CodeStarSourceConnection)
                .git_configuration(git)
                .build()
                .map_err(bad)
        })
        .collect::<Result<Vec<_>>>()?;
    PipelineDeclaration::builder()
        .name(&s.name)
        .role_arn(&s.role_arn)
        .artifact_store(store)
        .set_stages(Some(stages))
        .set_triggers((!triggers.is_empty()).then_some(triggers))
        .set_pipeline_type(s.pipeline_type.as_deref().map(PipelineType::from))
        .set_execution_mode(s.execution_mode.as_deref().map(ExecutionMode::from))
        .build()
        .map_err(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(name: &str, category: &str, inputs: &[&str], outputs: &[&str]) -> Value {
        json!({"name": name, "actions": [{"name": name, "category": category, "provider": "CodeBuild",
            "input_artifacts": inputs, "output_artifacts": outputs}]})
    }

    fn pipeline(stages: Vec<Value>) -> Value {
        json!({"name": "p", "role_arn": "r", "artifact_bucket": "b", "stages": stages})
    }

    #[test]
    fn structure_errors_point_at_the_offending_node() {
        let e = check_structure(&pipeline(vec![stage("Source", "Source", &[], &["S"])]));
        assert_eq!(e[0].path, keys(&["stages"]));

        let e = check_structure(&pipeline(vec![stage("Source", "Source", &[], &["S"]), stage("Build", "Build", &["Missing"], &[])]));
        assert_eq!(
            e[0].path,
            vec![
                PathSeg::Key("stages".into()),
                PathSeg::Index(1),
                PathSeg::Key("actions".into()),
                PathSeg::Index(0),
                PathSeg::Key("input_artifacts".into()),
                PathSeg::Index(0)
            ]
        );

        let e = check_structure(&pipeline(vec![stage("Build", "Build", &[], &[]), stage("Deploy", "Deploy", &[], &[])]));
        assert!(e[0].message.contains("first stage"), "{}", e[0].message);

        assert!(check_structure(&pipeline(vec![stage("Source", "Source", &[], &["S"]), stage("Build", "Build", &["S"], &["B"])])).is_empty());
    }

    #[test]
    fn triggers_need_v2_and_a_connection_source_of_the_first_stage() {
        let mut source = stage("Source", "Source", &[], &["S"]);
        source["actions"][0]["provider"] = json!("CodeStarSourceConnection");
        let mut p = pipeline(vec![source, stage("Plan", "Build", &["S"], &[])]);
        p["triggers"] = json!([{"source_action": "Source", "pull_request": [{"events": ["OPEN"]}]}]);
        assert!(check_structure(&p)[0].message.contains("V2"));
        p["pipeline_type"] = json!("V2");
        assert!(check_structure(&p).is_empty());
        p["triggers"][0]["source_action"] = json!("Src");
        let e = check_structure(&p);
        assert_eq!(e[0].path, vec![PathSeg::Key("triggers".into()), PathSeg::Index(0), PathSeg::Key("source_action".into())]);
        assert_eq!(e[0].help.as_deref(), Some("name one of: Source"));
        p["triggers"][0] = json!({"source_action": "Source"});
        assert!(check_structure(&p)[0].message.contains("needs `push` or `pull_request`"));
    }
}
