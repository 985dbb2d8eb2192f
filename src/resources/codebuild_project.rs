//! `codebuild_project`: a build project fed by CodePipeline (source and artifacts CODEPIPELINE).
//!
//! Creating or updating a project right after its service role is created can fail on AWS with
//! "CodeBuild is not authorized to perform: sts:AssumeRole": retried while IAM propagates.

use crate::aws::{self, CallResult, Reads};
use crate::contract::schema::*;
use crate::contract::{Attrs, Ctx, Live, Op, Resource, Tags};
use crate::Result;
use async_trait::async_trait;
use aws_sdk_codebuild::types::{
    ArtifactsType, CloudWatchLogsConfig, ComputeType, EnvironmentType, EnvironmentVariable, EnvironmentVariableType, LogsConfig, LogsConfigStatusType,
    ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType, Tag,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub struct CodebuildProject;

const VARIABLE: &[Field] = &[
    field("value", STRING, "the value, or the parameter / secret name").required(),
    field("type", Ty::Enum(&["PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER"]), "where the value comes from: secrets belong in the last two")
        .default(Lit::Str("PLAINTEXT")),
];

const ENVIRONMENT: &[Field] = &[
    field("image", text(1, 256), "build image").required(),
    field("compute_type", STRING, "e.g. `BUILD_GENERAL1_SMALL`").default(Lit::Str("BUILD_GENERAL1_SMALL")),
    field("type", STRING, "e.g. `LINUX_CONTAINER`").default(Lit::Str("LINUX_CONTAINER")),
    field("privileged_mode", Ty::Bool, "`docker build` needs it").default(Lit::Bool(false)),
    field("variables", Ty::Map(&Ty::Short(VARIABLE)), "`NAME: value` (PLAINTEXT) or `NAME: {value, type}`").default(Lit::EmptyMap),
];

const LOGS: &[Field] = &[field("group_name", text(1, 512), "CloudWatch Logs group").required(), field("stream_name", text(1, 512), "stream name prefix")];

pub static SCHEMA: Schema = Schema {
    kind: "codebuild_project",
    summary: "A CodeBuild project run by the pipeline (source and artifacts are `CODEPIPELINE`).",
    notes: "Creating or updating a project right after its service role is retried while IAM propagates the role.",
    fields: &[
        field(
            "name",
            text_matching(
                2,
                255,
                Pattern { describe: "letters, digits, `-` or `_`", check: |s| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') },
            ),
            "project name",
        )
        .required()
        .replace("CodeBuild projects cannot be renamed"),
        field("description", text(0, 255), "what the project does"),
        field("service_role", STRING, "the role the builds run as (an ARN)").required(),
        field("buildspec", STRING, "buildspec file name in the source").required(),
        field("environment", Ty::Struct(ENVIRONMENT), "the build environment").required(),
        field("logs", Ty::Struct(LOGS), "CloudWatch Logs group and stream"),
        field("timeout_minutes", Ty::Int(5, 2160), "build timeout"),
        TAGS,
    ],
    attributes: &[attr("name", "project name"), attr("arn", "project ARN")],
    identity: &["name"],
    unique: true,
    ownership: Ownership::Tags,
    rank: 7,
    not_found: &["ResourceNotFoundException"],
    already_exists: &["ResourceAlreadyExistsException"],
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    name: String,
    description: Option<String>,
    service_role: String,
    buildspec: String,
    environment: Env,
    logs: Option<Logs>,
    timeout_minutes: Option<i32>,
    tags: Tags,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Env {
    image: String,
    compute_type: String,
    #[serde(rename = "type")]
    kind: String,
    privileged_mode: bool,
    variables: BTreeMap<String, Var>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Var {
    value: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Logs {
    group_name: String,
    stream_name: Option<String>,
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()
}

#[async_trait]
impl Resource for CodebuildProject {
    type State = State;

    fn schema(&self) -> &'static Schema {
        &SCHEMA
    }

    fn attrs(&self, ctx: &Ctx, s: &State, _live: Option<&Live<State>>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(s.name.clone()));
        a.insert("arn".into(), Some(ctx.arn("codebuild", &format!("project/{}", s.name))));
        a
    }

    async fn inventory(&self, ctx: &Ctx, reads: &Reads, wanted: &[State]) -> Result<Vec<Live<State>>> {
        let mut names: BTreeSet<String> = wanted.iter().map(|w| w.name.clone()).collect();
        names.extend(reads.tagged(&ctx.aws, "codebuild").await?.into_iter().filter_map(|t| t.arn.split_once(":project/").map(|(_, n)| n.to_string())));
        let names: Vec<String> = names.into_iter().collect();
        // BatchGetProjects takes up to 100 names a call.
        let chunks: Vec<Vec<String>> = names.chunks(100).map(<[String]>::to_vec).collect();
        let pages = aws::reads::each(ctx, "codebuild", chunks, |chunk| async move {
            Ok(ctx.aws.codebuild().batch_get_projects().set_names(Some(chunk)).send().await.op("BatchGetProjects")?.projects.unwrap_or_default())
        })
        .await?;
        Ok(pages.into_iter().flatten().map(read).collect())
    }

    async fn create(&self, op: &Op<'_>, s: &State) -> Result<BTreeMap<String, String>> {
        let parts = Parts::new(s)?;
        let cb = op.aws.codebuild();
        let out = op
            .propagation("CreateProject", &s.service_role, || async { with_definition!(cb.create_project(), s, parts).send().await.map_err(aws::error) })
            .await?;
        Ok(out.project.and_then(|p| p.arn).map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, op: &Op<'_>, s: &State, _live: &Live<State>) -> Result<()> {
        let parts = Parts::new(s)?;
        let cb = op.aws.codebuild();
        op.propagation("UpdateProject", &s.service_role, || async { with_definition!(cb.update_project(), s, parts).send().await.map_err(aws::error) }).await?;
        Ok(())
    }

    /// CodeBuild has no tagging call: UpdateProject with the whole tag set.
    async fn tag(&self, op: &Op<'_>, live: &Live<State>, set: &Tags, remove: &[String]) -> Result<()> {
        let mut tags = live.state.tags.clone();
        tags.retain(|k, _| !remove.contains(k));
        tags.extend(set.clone());
        op.aws.codebuild().update_project().name(&live.state.name).set_tags(Some(sdk_tags(&tags))).send().await.op("UpdateProject").map(|_| ())
    }

    async fn delete(&self, op: &Op<'_>, live: &Live<State>, _desired: Option<&State>) -> Result<()> {
        op.aws.codebuild().delete_project().name(&live.state.name).send().await.op("DeleteProject").map(|_| ())
    }
}

fn read(p: aws_sdk_codebuild::types::Project) -> Live<State> {
    let env = p.environment();
    let logs = p
        .logs_config()
        .and_then(|l| l.cloud_watch_logs())
        .filter(|c| c.status() == &LogsConfigStatusType::Enabled)
        .and_then(|c| c.group_name().map(|g| Logs { group_name: g.to_string(), stream_name: c.stream_name().map(str::to_string) }));
    let variables = env
        .map(|e| {
            e.environment_variables()
                .iter()
                .map(|v| (v.name().to_string(), Var { value: v.value().to_string(), kind: v.r#type().map(|t| t.as_str()).unwrap_or("PLAINTEXT").to_string() }))
                .collect()
        })
        .unwrap_or_default();
    let state = State {
        name: p.name().unwrap_or_default().to_string(),
        description: p.description().filter(|d| !d.is_empty()).map(str::to_string),
        service_role: p.service_role().unwrap_or_default().to_string(),
        buildspec: p.source().and_then(|s| s.buildspec()).unwrap_or_default().to_string(),
        environment: Env {
            image: env.map(|e| e.image().to_string()).unwrap_or_default(),
            compute_type: env.map(|e| e.compute_type().as_str().to_string()).unwrap_or_default(),
            kind: env.map(|e| e.r#type().as_str().to_string()).unwrap_or_default(),
            privileged_mode: env.and_then(|e| e.privileged_mode()).unwrap_or(false),
            variables,
        },
        logs,
        timeout_minutes: p.timeout_in_minutes(),
        tags: p.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect(),
    };
    let arn = p.arn().unwrap_or_default().to_string();
    Live::new(state).attr("arn", arn)
}

/// CreateProject and UpdateProject take the same definition (different builder types). The whole
/// definition is sent on update too, so what AWS holds is exactly the stack (a removed variable or
/// an emptied description included). On update the state's tags are the live ones: tags are the
/// engine's to change.
macro_rules! with_definition {
    ($req:expr, $s:expr, $parts:expr) => {
        $req.name(&$s.name)
            .description($s.description.clone().unwrap_or_default())
            .service_role(&$s.service_role)
            .source($parts.source.clone())
            .artifacts($parts.artifacts.clone())
            .environment($parts.environment.clone())
            .logs_config($parts.logs.clone())
            .set_timeout_in_minutes($s.timeout_minutes)
            .set_tags(Some($parts.tags.clone()))
    };
}
use with_definition;

/// The SDK shapes of a project, built once per create/update (retries reuse them).
struct Parts {
    source: ProjectSource,
    artifacts: ProjectArtifacts,
    environment: ProjectEnvironment,
    logs: LogsConfig,
    tags: Vec<Tag>,
}

impl Parts {
    fn new(s: &State) -> Result<Parts> {
        let bad = |e: aws_sdk_codebuild::error::BuildError| crate::Error::internal(format!("codebuild project {}: {e}", s.name));
        let vars = s
            .environment
            .variables
            .iter()
            .map(|(k, v)| EnvironmentVariable::builder().name(k).value(&v.value).r#type(EnvironmentVariableType::from(v.kind.as_str())).build().map_err(bad))
            .collect::<Result<Vec<_>>>()?;
        let cw = CloudWatchLogsConfig::builder().status(LogsConfigStatusType::Enabled);
        let cw = match &s.logs {
            Some(l) => cw.group_name(&l.group_name).set_stream_name(l.stream_name.clone()),
            None => cw,
        };
        Ok(Parts {
            source: ProjectSource::builder().r#type(SourceType::Codepipeline).buildspec(&s.buildspec).build().map_err(bad)?,
            artifacts: ProjectArtifacts::builder().r#type(ArtifactsType::Codepipeline).build().map_err(bad)?,
            environment: ProjectEnvironment::builder()
                .r#type(EnvironmentType::from(s.environment.kind.as_str()))
                .image(&s.environment.image)
                .compute_type(ComputeType::from(s.environment.compute_type.as_str()))
                .privileged_mode(s.environment.privileged_mode)
                .set_environment_variables(Some(vars))
                .build()
                .map_err(bad)?,
            logs: LogsConfig::builder().cloud_watch_logs(cw.build().map_err(bad)?).build(),
            tags: sdk_tags(&s.tags),
        })
    }
}
