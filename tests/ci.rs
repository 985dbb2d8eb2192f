//! CodeBuild projects and the pipeline against the emulator, including IAM-propagation retries.
//! The roles here carry no permissions (the tests are about the resources' lifecycle), so
//! `provision check` rightly finds the pipeline would fail: applies pass `--ignore-check`.

mod common;

use common::{Emulator, Project};
use std::time::{Duration, Instant};

const ROLES: &str = r#"
  iam_role.build:
    name: ci-build-role
    trust_policy:
      Version: "2012-10-17"
      Statement: [{ Effect: Allow, Principal: { Service: codebuild.amazonaws.com }, Action: sts:AssumeRole }]
  iam_role.pipeline:
    name: ci-pipeline-role
    trust_policy:
      Version: "2012-10-17"
      Statement: [{ Effect: Allow, Principal: { Service: codepipeline.amazonaws.com }, Action: sts:AssumeRole }]
"#;

fn project_yaml(description: &str, image: &str, privileged: bool, vars: &str, group: &str, team: &str) -> String {
    format!(
        r#"  codebuild_project.build:
    name: ci-build
    description: {description}
    service_role: ${{iam_role.build.arn}}
    buildspec: buildspec-build.yml
    environment:
      image: {image}
      privileged_mode: {privileged}
      variables: {{ {vars} }}
    logs: {{ group_name: {group}, stream_name: build }}
    tags: {{ team: {team} }}
"#
    )
}

fn stack(settings: &str, body: &str) -> String {
    format!("stack: ci\n{settings}resources:{ROLES}{body}")
}

#[tokio::test(flavor = "multi_thread")]
async fn codebuild_project_lifecycle() {
    let emu = Emulator::start();
    let cb = aws_sdk_codebuild::Client::new(&emu.sdk_config().await);
    let p = Project::new(&stack("", &project_yaml("builds", "aws/codebuild/standard:7.0", true, "A: one, B: two", "g1", "x")));
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).ok();
    let got = cb.batch_get_projects().names("ci-build").send().await.unwrap();
    let proj = &got.projects()[0];
    assert_eq!(proj.environment().unwrap().privileged_mode(), Some(true));
    assert_eq!(proj.source().unwrap().buildspec(), Some("buildspec-build.yml"));
    assert!(proj.tags().iter().any(|t| t.key() == Some("provision:stack") && t.value() == Some("ci")));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    p.write_stack(&stack("", &project_yaml("builds images", "aws/codebuild/amazonlinux-x86_64-standard:5.0", false, "A: uno, C: three", "g2", "y")));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("~ codebuild_project.build (ci-build) will be updated in place")
        .has("~ description: \"builds\" -> \"builds images\"")
        .has("~ environment.image: \"aws/codebuild/standard:7.0\" -> \"aws/codebuild/amazonlinux-x86_64-standard:5.0\"")
        .has("~ environment.privileged_mode: true -> false")
        .has("~ environment.variables.A.value: \"one\" -> \"uno\"")
        .has("- environment.variables.B:")
        .has("+ environment.variables.C:")
        .has("~ logs.group_name: \"g1\" -> \"g2\"")
        .has("~ tags.team: \"x\" -> \"y\"");
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
    let got = cb.batch_get_projects().names("ci-build").send().await.unwrap();
    let env = got.projects()[0].environment().unwrap();
    let mut names: Vec<&str> = env.environment_variables().iter().map(|v| v.name()).collect();
    names.sort();
    assert_eq!(names, vec!["A", "C"]);

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(cb.batch_get_projects().names("ci-build").send().await.unwrap().projects().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_rides_out_iam_propagation() {
    let emu = Emulator::start();
    let p = Project::new(&stack("", &project_yaml("builds", "img", true, "A: one", "g", "x")));
    emu.fault("codebuild", "CreateProject", "not_authorized", 3);
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).ok().has("codebuild_project.build: created after");
    assert_eq!(emu.calls()["by_operation"]["codebuild.CreateProject"], 4, "three refusals, then success");
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_never_propagates_is_named_in_the_error() {
    let emu = Emulator::start();
    let p = Project::new(&stack("settings: { iam_propagation_timeout_seconds: 3 }\n", &project_yaml("builds", "img", true, "A: one", "g", "x")));
    emu.fault("codebuild", "CreateProject", "not_authorized", -1);
    let t = Instant::now();
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"])
        .code(1)
        .has("not authorized to perform: sts:AssumeRole")
        .has("role arn:aws:iam::123456789012:role/ci-build-role still cannot be assumed")
        .has("check its trust policy");
    assert!(t.elapsed() < Duration::from_secs(20), "gave up after {:?}", t.elapsed());
    // The roles were created and are seen by the next plan; only the project is left to do.
    emu.provision(p.path(), &["plan"]).ok().has("Plan: 1 to add, 0 to change, 0 to destroy.");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_reads_are_retried() {
    let emu = Emulator::start();
    let p = Project::new(&stack("", &project_yaml("builds", "img", true, "A: one", "g", "x")));
    emu.fault("codebuild", "BatchGetProjects", "throttle", 2);
    emu.provision(p.path(), &["plan"]).ok().has("Plan: 3 to add");
}

fn pipeline_yaml(mode: &str, branch: &str, extra_stage: bool, team: &str) -> String {
    let test_stage = if extra_stage {
        "      - name: Test\n        actions:\n          - { name: Test, category: Test, provider: CodeBuild, configuration: { ProjectName: \"${codebuild_project.build.name}\" }, input_artifacts: [BuildArtifact] }\n"
    } else {
        ""
    };
    format!(
        r#"  s3_bucket.artifacts:
    name: ci-artifacts-${{account_id}}
    force_destroy: true
  codestar_connection.github:
    name: ci-github
    provider_type: GitHub
  sns_topic.approval:
    name: ci-approval
{}  codepipeline.main:
    name: ci-pipeline
    pipeline_type: V2
    execution_mode: {mode}
    role_arn: ${{iam_role.pipeline.arn}}
    artifact_bucket: ${{s3_bucket.artifacts.name}}
    tags: {{ team: {team} }}
    stages:
      - name: Source
        actions:
          - name: Source
            category: Source
            provider: CodeStarSourceConnection
            configuration:
              ConnectionArn: ${{codestar_connection.github.arn}}
              FullRepositoryId: org/repo
              BranchName: {branch}
            output_artifacts: [SourceArtifact]
      - name: Build
        actions:
          - name: Build
            category: Build
            provider: CodeBuild
            configuration: {{ ProjectName: "${{codebuild_project.build.name}}" }}
            input_artifacts: [SourceArtifact]
            output_artifacts: [BuildArtifact]
{test_stage}      - name: Approve
        actions:
          - name: Approve
            category: Approval
            provider: Manual
            configuration: {{ NotificationArn: "${{sns_topic.approval.arn}}" }}
"#,
        project_yaml("builds", "img", true, "A: one", "g", "x")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_lifecycle() {
    let emu = Emulator::start();
    let cp = aws_sdk_codepipeline::Client::new(&emu.sdk_config().await);
    let p = Project::new(&stack("", &pipeline_yaml("QUEUED", "main", false, "a")));
    // The connection ARN is not known before the connection exists.
    emu.provision(p.path(), &["plan"]).ok().has("\"ConnectionArn\": (known after apply)");
    emu.fault("codepipeline", "CreatePipeline", "not_authorized", 2);
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).ok();
    assert_eq!(emu.calls()["by_operation"]["codepipeline.CreatePipeline"], 3);
    let got = cp.get_pipeline().name("ci-pipeline").send().await.unwrap();
    let decl = got.pipeline().unwrap();
    assert_eq!(decl.execution_mode().map(|m| m.as_str()), Some("QUEUED"));
    assert_eq!(decl.pipeline_type().map(|m| m.as_str()), Some("V2"));
    let conn = decl.stages()[0].actions()[0].configuration().unwrap()["ConnectionArn"].clone();
    assert!(conn.starts_with("arn:aws:codestar-connections:us-east-1:123456789012:connection/"), "{conn}");
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    p.write_stack(&stack("", &pipeline_yaml("SUPERSEDED", "release", true, "b")));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("~ execution_mode: \"QUEUED\" -> \"SUPERSEDED\"")
        .has("~ stages:")
        .has("-          \"BranchName\": \"main\",")
        .has("+          \"BranchName\": \"release\",")
        .has("+    \"name\": \"Test\",")
        .has("~ tags.team: \"a\" -> \"b\"");
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
    let got = cp.get_pipeline().name("ci-pipeline").send().await.unwrap();
    assert_eq!(got.pipeline().unwrap().stages().len(), 4);

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok().has("Destroy complete! Resources: 7 destroyed.");
    assert!(cp.get_pipeline().name("ci-pipeline").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_pipeline_structure_is_caught_before_any_call() {
    let p =
        Project::new(&stack("", &pipeline_yaml("QUEUED", "main", false, "a").replace("input_artifacts: [SourceArtifact]", "input_artifacts: [SourceArtfact]")));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision")).current_dir(p.path()).args(["validate"]).env("NO_COLOR", "1").output().unwrap();
    let r = common::Run::from(out);
    r.code(1).has("input artifact `SourceArtfact` is not produced by an earlier action").has("--> stacks/test.yaml:");
}

#[tokio::test(flavor = "multi_thread")]
async fn unowned_project_and_pipeline_are_left_alone() {
    let emu = Emulator::start();
    let p = Project::new(&stack("", &pipeline_yaml("QUEUED", "main", false, "a")));
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).ok();
    // Someone removes the stack's tags by hand: the stack no longer owns them.
    let cb = aws_sdk_codebuild::Client::new(&emu.sdk_config().await);
    let cp = aws_sdk_codepipeline::Client::new(&emu.sdk_config().await);
    cb.update_project().name("ci-build").set_tags(Some(vec![])).send().await.unwrap();
    let arn = "arn:aws:codepipeline:us-east-1:123456789012:ci-pipeline";
    cp.untag_resource().resource_arn(arn).tag_keys("provision:stack").send().await.unwrap();
    emu.provision(p.path(), &["plan"])
        .ok()
        .has("! codebuild_project.build (ci-build) exists but is not this stack's")
        .has("! codepipeline.main (ci-pipeline) exists but is not this stack's");
    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve", "--ignore-check"]).code(1);
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(cb.batch_get_projects().names("ci-build").send().await.unwrap().projects().len() == 1, "not deleted");
    assert!(cp.get_pipeline().name("ci-pipeline").send().await.is_ok(), "not deleted");
}
