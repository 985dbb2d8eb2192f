//! `codebuild_project`: a build project fed by CodePipeline (source and artifacts CODEPIPELINE).
//!
//! Creating or updating a project right after its service role is created can fail on AWS with
//! "CodeBuild is not authorized to perform: sts:AssumeRole": that is retried (IAM propagation).
//!
//! ```yaml
//! codebuild_project.build:
//!   name: build-eks-devops
//!   service_role: ${iam_role.build.arn}
//!   buildspec: buildspec-build.yml
//!   environment:
//!     image: aws/codebuild/amazonlinux-x86_64-standard:5.0
//!     compute_type: BUILD_GENERAL1_SMALL
//!     type: LINUX_CONTAINER
//!     privileged_mode: true            # docker build needs it
//!     variables:
//!       IMAGE_URI: ${ecr_repository.app.uri}
//!       DOCKERHUB_TOKEN: { type: SECRETS_MANAGER, value: dockerhub:token }  # secrets: never PLAINTEXT
//!   logs: { group_name: ..., stream_name: ... }
//! ```

use super::{config, owned_tags, parse_as, Attrs, Desired, Kind, Live, PropError};
use crate::aws::{self, retry};
use crate::engine::diff::FieldChange;
use crate::engine::Ctx;
use crate::error::Result;
use async_trait::async_trait;
use aws_sdk_codebuild::types::{
    ArtifactsType, CloudWatchLogsConfig, ComputeType, EnvironmentType, EnvironmentVariable, EnvironmentVariableType, LogsConfig,
    LogsConfigStatusType, ProjectArtifacts, ProjectEnvironment, ProjectSource, SourceType, Tag,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub struct CodebuildProject;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Props {
    name: String,
    #[serde(default)]
    description: Option<String>,
    service_role: String,
    buildspec: String,
    environment: EnvProps,
    #[serde(default)]
    logs: Option<Logs>,
    #[serde(default)]
    timeout_minutes: Option<i32>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvProps {
    image: String,
    #[serde(default)]
    compute_type: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    privileged_mode: Option<bool>,
    #[serde(default)]
    variables: BTreeMap<String, VarProps>,
}

/// `NAME: value` (PLAINTEXT) or `NAME: {value, type}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum VarProps {
    Plain(String),
    Typed {
        value: String,
        #[serde(rename = "type")]
        kind: VarType,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum VarType {
    Plaintext,
    ParameterStore,
    SecretsManager,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Logs {
    group_name: String,
    #[serde(default)]
    stream_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    name: String,
    description: Option<String>,
    service_role: String,
    buildspec: String,
    environment: Env,
    logs: Option<Logs>,
    timeout_minutes: Option<i32>,
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Env {
    image: String,
    compute_type: String,
    #[serde(rename = "type")]
    kind: String,
    privileged_mode: bool,
    variables: BTreeMap<String, Var>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Var {
    value: String,
    #[serde(rename = "type")]
    kind: VarType,
}

fn address(name: &str) -> String {
    format!("codebuild_project {name}")
}

#[async_trait]
impl Kind for CodebuildProject {
    fn kind(&self) -> &'static str {
        "codebuild_project"
    }

    fn attributes(&self) -> &'static [&'static str] {
        &["name", "arn"]
    }

    fn check(&self, props: &Value) -> Result<(), PropError> {
        let p: Props = parse_as(props)?;
        if let Some(t) = p.timeout_minutes {
            if !(5..=2160).contains(&t) {
                return Err(PropError {
                    path: vec![crate::stack::node::PathSeg::Key("timeout_minutes".into())],
                    message: format!("{t} minutes is out of range"),
                    help: Some("CodeBuild allows 5 to 2160 minutes".into()),
                });
            }
        }
        Ok(())
    }

    fn desired(&self, ctx: &Ctx, props: &Value) -> Result<Desired> {
        let p: Props = config(props)?;
        let variables = p
            .environment
            .variables
            .into_iter()
            .map(|(k, v)| {
                let var = match v {
                    VarProps::Plain(value) => Var { value, kind: VarType::Plaintext },
                    VarProps::Typed { value, kind } => Var { value, kind },
                };
                (k, var)
            })
            .collect();
        let state = State {
            name: p.name.clone(),
            description: p.description,
            service_role: p.service_role,
            buildspec: p.buildspec,
            environment: Env {
                image: p.environment.image,
                compute_type: p.environment.compute_type.unwrap_or_else(|| "BUILD_GENERAL1_SMALL".into()),
                kind: p.environment.kind.unwrap_or_else(|| "LINUX_CONTAINER".into()),
                privileged_mode: p.environment.privileged_mode.unwrap_or(false),
                variables,
            },
            logs: p.logs,
            timeout_minutes: p.timeout_minutes,
            tags: owned_tags(ctx, &p.tags),
        };
        Ok(Desired { name: p.name, state: serde_json::to_value(state).expect("serialisable"), options: Value::Null })
    }

    fn attrs(&self, ctx: &Ctx, desired: &Desired, _live: Option<&Live>) -> Attrs {
        let mut a = Attrs::new();
        a.insert("name".into(), Some(desired.name.clone()));
        a.insert("arn".into(), Some(ctx.arn("codebuild", &format!("project/{}", desired.name))));
        a
    }

    fn immutable(&self) -> &'static [(&'static str, &'static str)] {
        &[("name", "CodeBuild projects cannot be renamed")]
    }

    async fn read(&self, ctx: &Ctx, desired: &Desired) -> Result<Option<Live>> {
        let out = ctx
            .aws
            .codebuild()
            .batch_get_projects()
            .names(&desired.name)
            .send()
            .await
            .map_err(|e| aws::error(e).at(address(&desired.name), "BatchGetProjects"))?;
        let Some(p) = out.projects().iter().find(|p| p.name() == Some(desired.name.as_str())) else { return Ok(None) };
        let tags: BTreeMap<String, String> =
            p.tags().iter().filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))).collect();
        let env = p.environment();
        let logs = p
            .logs_config()
            .and_then(|l| l.cloud_watch_logs())
            .filter(|c| c.status() == &LogsConfigStatusType::Enabled)
            .and_then(|c| c.group_name().map(|g| Logs { group_name: g.to_string(), stream_name: c.stream_name().map(str::to_string) }));
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
                variables: env
                    .map(|e| {
                        e.environment_variables()
                            .iter()
                            .map(|v| {
                                let kind = match v.r#type() {
                                    Some(EnvironmentVariableType::ParameterStore) => VarType::ParameterStore,
                                    Some(EnvironmentVariableType::SecretsManager) => VarType::SecretsManager,
                                    _ => VarType::Plaintext,
                                };
                                (v.name().to_string(), Var { value: v.value().to_string(), kind })
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            logs,
            timeout_minutes: desired.state["timeout_minutes"].as_i64().and(p.timeout_in_minutes()),
            tags: tags.clone(),
        };
        let mut live = Live::new(serde_json::to_value(state).expect("serialisable"), &tags);
        if let Some(arn) = p.arn() {
            live.attrs.insert("arn".into(), arn.to_string());
        }
        Ok(Some(live))
    }

    async fn create(&self, ctx: &Ctx, desired: &Desired) -> Result<BTreeMap<String, String>> {
        let s: State = config(&desired.state)?;
        let parts = Parts::new(&s)?;
        let cb = ctx.aws.codebuild();
        let addr = address(&s.name);
        let out = retry::iam_propagation(&addr, "CreateProject", &s.service_role, ctx.settings.iam_propagation_timeout, || async {
            with_definition!(cb.create_project(), s, parts).send().await.map_err(aws::error)
        })
        .await?;
        Ok(out.project.and_then(|p| p.arn).map(|a| ("arn".to_string(), a)).into_iter().collect())
    }

    async fn update(&self, ctx: &Ctx, desired: &Desired, _live: &Live, _changes: &[FieldChange]) -> Result<()> {
        let s: State = config(&desired.state)?;
        let parts = Parts::new(&s)?;
        let cb = ctx.aws.codebuild();
        let addr = address(&s.name);
        retry::iam_propagation(&addr, "UpdateProject", &s.service_role, ctx.settings.iam_propagation_timeout, || async {
            with_definition!(cb.update_project(), s, parts).send().await.map_err(aws::error)
        })
        .await?;
        Ok(())
    }

    async fn delete(&self, ctx: &Ctx, desired: &Desired, _live: &Live) -> Result<()> {
        let r = ctx.aws.codebuild().delete_project().name(&desired.name).send().await;
        aws::gone_ok(r, &["ResourceNotFoundException"], address(&desired.name), "DeleteProject")
    }
}

/// CreateProject and UpdateProject take the same definition (different builder types). The whole
/// definition is sent on update too, so what AWS holds is exactly the stack (a removed tag or an
/// emptied description included).
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
        let bad = |e: aws_sdk_codebuild::error::BuildError| crate::Error::user(format!("{}: {e}", address(&s.name)), "check the project's properties");
        let vars = s
            .environment
            .variables
            .iter()
            .map(|(k, v)| {
                let t = match v.kind {
                    VarType::Plaintext => EnvironmentVariableType::Plaintext,
                    VarType::ParameterStore => EnvironmentVariableType::ParameterStore,
                    VarType::SecretsManager => EnvironmentVariableType::SecretsManager,
                };
                EnvironmentVariable::builder().name(k).value(&v.value).r#type(t).build().map_err(bad)
            })
            .collect::<Result<Vec<_>>>()?;
        let cw = match &s.logs {
            Some(l) => CloudWatchLogsConfig::builder()
                .status(LogsConfigStatusType::Enabled)
                .group_name(&l.group_name)
                .set_stream_name(l.stream_name.clone())
                .build()
                .map_err(bad)?,
            None => CloudWatchLogsConfig::builder().status(LogsConfigStatusType::Enabled).build().map_err(bad)?,
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
            logs: LogsConfig::builder().cloud_watch_logs(cw).build(),
            tags: s.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variables_plain_or_typed() {
        let p = json!({"name": "b", "service_role": "arn:aws:iam::1:role/r", "buildspec": "b.yml",
            "environment": {"image": "i", "variables": {"A": "x", "B": {"value": "/p", "type": "PARAMETER_STORE"}}}});
        assert!(CodebuildProject.check(&p).is_ok());
        let bad = json!({"name": "b", "service_role": "r", "buildspec": "b.yml",
            "environment": {"image": "i", "variables": {"B": {"value": "/p", "type": "VAULT"}}}});
        assert!(CodebuildProject.check(&bad).is_err());
    }
}
