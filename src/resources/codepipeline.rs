//! `codepipeline`: the pipeline (V2, QUEUED in the seed): Source -> Build -> approval -> Deploy.
//!
//! Stages and actions use CodePipeline's own vocabulary (category, provider, configuration), with
//! `owner: AWS`, `version: "1"` and `run_order: 1` as defaults. Creating or updating the pipeline
//! right after its role is created is retried while IAM propagates ("CodePipeline is not
//! authorized to perform AssumeRole").

use super::{config, owned_tags, parse_as, tag_delta, Attrs, Desired, Kind, Live, PropError};
use crate::aws::{self, retry};
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use crate::stack::node::PathSeg;
use async_trait::async_trait;
use aws_sdk_codepipeline::types::{
    ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore, ArtifactStoreType, ExecutionMode,
    InputArtifact, OutputArtifact, PipelineDeclaration, PipelineType, StageDeclaration, Tag,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub struct Codepipeline;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    pipeline_type: Option<PipelineKind>,
    #[serde(default)]
    execution_mode: Option<Mode>,
    role_arn: String,
    artifact_bucket: String,
    stages: Vec<StageProps>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum PipelineKind {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Mode {
    Queued,
    Superseded,
    Parallel,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageProps {
    name: String,
    actions: Vec<ActionProps>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionProps {
    name: String,
    category: Category,
    #[serde(default)]
    owner: Option<String>,
    provider: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    configuration: BTreeMap<String, String>,
    #[serde(default)]
    input_artifacts: Vec<String>,
    #[serde(default)]
    output_artifacts: Vec<String>,
    #[serde(default)]
    run_order: Option<i32>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Category {
    Source,
    Build,
    Test,
    Deploy,
    Approval,
    Invoke,
    Compute,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    pipeline_type: Option<PipelineKind>,
    execution_mode: Option<Mode>,
    role_arn: String,
    artifact_bucket: String,
    stages: Vec<Stage>,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stage {
    name: String,
    actions: Vec<Action>,
}

/// An action with CodePipeline's defaults filled in, so a stack that omits them has no diff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Action {
    name: String,
    category: String,
    owner: String,
    provider: String,
    version: String,
    run_order: i32,
    configuration: BTreeMap<String, String>,
    input_artifacts: Vec<String>,
    output_artifacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    namespace: Option<String>,
}

fn address(name: &str) -> String {
    format!("codepipeline {name}")
}

fn err(path: Vec<PathSeg>, message: String, help: &str) -> PropError {
    PropError { path, message, help: Some(help.to_string()) }
}

/// Structural rules CodePipeline enforces, checked before any AWS call, located at the offending node.
fn check_structure(p: &Props) -> Result<(), PropError> {
    let stage_path = |i: usize| vec![PathSeg::Key("stages".into()), PathSeg::Index(i)];
    let action_path = |i: usize, j: usize, field: &str| {
        let mut v = stage_path(i);
        v.extend([PathSeg::Key("actions".into()), PathSeg::Index(j), PathSeg::Key(field.into())]);
        v
    };
    if p.stages.len() < 2 {
        return Err(err(vec![PathSeg::Key("stages".into())], format!("a pipeline needs at least 2 stages, found {}", p.stages.len()), "start with a Source stage and add at least one more (Build, Deploy, ...)"));
    }
    let mut stage_names = BTreeSet::new();
    let mut produced: BTreeSet<&str> = BTreeSet::new();
    for (i, st) in p.stages.iter().enumerate() {
        if !stage_names.insert(&st.name) {
            let mut path = stage_path(i);
            path.push(PathSeg::Key("name".into()));
            return Err(err(path, format!("duplicate stage name `{}`", st.name), "stage names must be unique in a pipeline"));
        }
        if st.actions.is_empty() {
            return Err(err(stage_path(i), format!("stage `{}` has no actions", st.name), "add at least one action"));
        }
        let mut action_names = BTreeSet::new();
        for (j, a) in st.actions.iter().enumerate() {
            if !action_names.insert(&a.name) {
                return Err(err(action_path(i, j, "name"), format!("duplicate action name `{}` in stage `{}`", a.name, st.name), "action names must be unique within a stage"));
            }
            let is_source = a.category == Category::Source;
            if i == 0 && !is_source {
                return Err(err(action_path(i, j, "category"), format!("the first stage may hold only Source actions, found {:?}", a.category), "move this action to a later stage"));
            }
            if i > 0 && is_source {
                return Err(err(action_path(i, j, "category"), "Source actions belong in the first stage only".into(), "move this action to the first stage"));
            }
            for (k, input) in a.input_artifacts.iter().enumerate() {
                if !produced.contains(input.as_str()) {
                    let mut path = action_path(i, j, "input_artifacts");
                    path.push(PathSeg::Index(k));
                    return Err(err(path, format!("input artifact `{input}` is not produced by an earlier action"), "name an `output_artifacts` entry of an action in an earlier stage"));
                }
            }
        }
        for a in &st.actions {
            produced.extend(a.output_artifacts.iter().map(String::as_str));
        }
    }
    Ok(())
}

#[async_trait]
impl Kind for Codepipeline {
    fn kind(&self) -> &'static str {
        "codepipeline"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        check_structure(&parse_as::<Props>(props)?)
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let stages = p
            .stages
            .into_iter()
            .map(|s| Stage {
                name: s.name,
                actions: s
                    .actions
                    .into_iter()
                    .map(|a| Action {
                        name: a.name,
                        category: format!("{:?}", a.category),
                        owner: a.owner.unwrap_or_else(|| "AWS".into()),
                        provider: a.provider,
                        version: a.version.unwrap_or_else(|| "1".into()),
                        run_order: a.run_order.unwrap_or(1),
                        configuration: a.configuration,
                        input_artifacts: a.input_artifacts,
                        output_artifacts: a.output_artifacts,
                        region: a.region,
                        namespace: a.namespace,
                    })
                    .collect(),
            })
            .collect();
        let state = State {
            name: p.name.clone(),
            pipeline_type: p.pipeline_type,
            execution_mode: p.execution_mode,
            role_arn: p.role_arn,
            artifact_bucket: p.artifact_bucket,
            stages,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, _live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), Some(ctx.arn("codepipeline", &desired.name)));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[("name", "pipelines cannot be renamed")]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let cp = ctx.aws.codepipeline();
        let addr = address(&desired.name);
        let out = match cp.get_pipeline().name(&desired.name).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = aws::error(e);
                if e.is("PipelineNotFoundException") {
                    return Ok(None);
                }
                return Err(e.at(addr, "GetPipeline"));
            }
        };
        let Some(p) = out.pipeline() else { return Ok(None) };
        let arn = out.metadata().and_then(|m| m.pipeline_arn()).map(str::to_string).unwrap_or_else(|| ctx.arn("codepipeline", &desired.name));
        let tags: BTreeMap<String, String> = cp
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws::error(e).at(&addr, "ListTagsForResource"))?
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
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
                            run_order: a.run_order().unwrap_or(1),
                            configuration: a.configuration().map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default(),
                            input_artifacts: a.input_artifacts().iter().map(|i| i.name().to_string()).collect(),
                            output_artifacts: a.output_artifacts().iter().map(|o| o.name().to_string()).collect(),
                            region: a.region().map(str::to_string),
                            namespace: a.namespace().map(str::to_string),
                        }
                    })
                    .collect(),
            })
            .collect();
        let state = State {
            name: p.name().to_string(),
            pipeline_type: p.pipeline_type().and_then(|t| match t {
                PipelineType::V1 => Some(PipelineKind::V1),
                PipelineType::V2 => Some(PipelineKind::V2),
                _ => None,
            }),
            execution_mode: p.execution_mode().and_then(|m| match m {
                ExecutionMode::Queued => Some(Mode::Queued),
                ExecutionMode::Superseded => Some(Mode::Superseded),
                ExecutionMode::Parallel => Some(Mode::Parallel),
                _ => None,
            }),
            role_arn: p.role_arn().to_string(),
            artifact_bucket: p.artifact_store().map(|s| s.location().to_string()).unwrap_or_default(),
            stages,
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        live.attrs.insert("arn".into(), arn);
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let decl = declaration(&s)?;
        let tags: Vec<Tag> = s.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect::<Result<_, _>>().map_err(|e| crate::Error::user(e.to_string(), "check the tags"))?;
        let cp = ctx.aws.codepipeline();
        let addr = address(&s.name);
        retry::iam_propagation(&addr, "CreatePipeline", &s.role_arn, ctx.settings.iam_propagation_timeout, || async {
            cp.create_pipeline().pipeline(decl.clone()).set_tags(Some(tags.clone())).send().await.map_err(aws::error)
        })
        .await?;
        Ok(BTreeMap::from([("arn".to_string(), ctx.arn("codepipeline", &s.name))]))
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, live: &Live, changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let l: State = config(&live.state)?;
        let cp = ctx.aws.codepipeline();
        let addr = address(&s.name);
        if changes.iter().any(|c| c.field() != "tags") {
            let decl = declaration(&s)?;
            retry::iam_propagation(&addr, "UpdatePipeline", &s.role_arn, ctx.settings.iam_propagation_timeout, || async {
                cp.update_pipeline().pipeline(decl.clone()).send().await.map_err(aws::error)
            })
            .await?;
        }
        if changes.iter().any(|c| c.field() == "tags") {
            let arn = live.attrs.get("arn").cloned().unwrap_or_else(|| ctx.arn("codepipeline", &s.name));
            let (set, remove) = tag_delta(&s.tags, &l.tags);
            if !set.is_empty() {
                let tags: Vec<Tag> = set.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect::<Result<_, _>>().map_err(|e| crate::Error::user(e.to_string(), "check the tags"))?;
                cp.tag_resource().resource_arn(&arn).set_tags(Some(tags)).send().await.map_err(|e| aws::error(e).at(&addr, "TagResource"))?;
            }
            if !remove.is_empty() {
                cp.untag_resource().resource_arn(&arn).set_tag_keys(Some(remove)).send().await.map_err(|e| aws::error(e).at(&addr, "UntagResource"))?;
            }
        }
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        // DeletePipeline succeeds for a pipeline that does not exist.
        ctx.aws
            .codepipeline()
            .delete_pipeline()
            .name(&desired.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws::error(e).at(address(&desired.name), "DeletePipeline"))
    }
}

fn declaration(s: &State) -> Result<PipelineDeclaration> {
    let bad = |e: aws_sdk_codepipeline::error::BuildError| crate::Error::user(format!("{}: {e}", address(&s.name)), "check the pipeline's properties");
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
                        .set_input_artifacts(Some(a.input_artifacts.iter().map(|n| InputArtifact::builder().name(n).build()).collect::<Result<_, _>>().map_err(bad)?))
                        .set_output_artifacts(Some(a.output_artifacts.iter().map(|n| OutputArtifact::builder().name(n).build()).collect::<Result<_, _>>().map_err(bad)?))
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
    PipelineDeclaration::builder()
        .name(&s.name)
        .role_arn(&s.role_arn)
        .artifact_store(store)
        .set_stages(Some(stages))
        .set_pipeline_type(s.pipeline_type.map(|t| match t {
            PipelineKind::V1 => PipelineType::V1,
            PipelineKind::V2 => PipelineType::V2,
        }))
        .set_execution_mode(s.execution_mode.map(|m| match m {
            Mode::Queued => ExecutionMode::Queued,
            Mode::Superseded => ExecutionMode::Superseded,
            Mode::Parallel => ExecutionMode::Parallel,
        }))
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
        let e = Codepipeline.check(&pipeline(vec![stage("Source", "Source", &[], &["S"])])).unwrap_err();
        assert_eq!(e.path, vec![PathSeg::Key("stages".into())]);

        let e = Codepipeline.check(&pipeline(vec![stage("Source", "Source", &[], &["S"]), stage("Build", "Build", &["Missing"], &[])])).unwrap_err();
        assert_eq!(
            e.path,
            vec![
                PathSeg::Key("stages".into()),
                PathSeg::Index(1),
                PathSeg::Key("actions".into()),
                PathSeg::Index(0),
                PathSeg::Key("input_artifacts".into()),
                PathSeg::Index(0)
            ]
        );

        let e = Codepipeline.check(&pipeline(vec![stage("Build", "Build", &[], &[]), stage("Deploy", "Deploy", &[], &[])])).unwrap_err();
        assert!(e.message.contains("first stage"), "{}", e.message);

        assert!(Codepipeline.check(&pipeline(vec![stage("Source", "Source", &[], &["S"]), stage("Build", "Build", &["S"], &["B"])])).is_ok());
    }
}
