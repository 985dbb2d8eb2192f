//! Each class of failure a user meets gives one line saying what went wrong, a `help:` line with
//! the next step, exit code 1, within a bounded time, and never Rust `Debug` text.

mod common;

use common::{Emulator, Project, Run};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};

const REPO: &str = "stack: errs\nresources:\n  ecr_repository.app:\n    name: errs-app\n";

/// Exit 1 with `error:` and `help:` lines, and none of the markers of a `Debug` dump.
#[track_caller]
fn failed_cleanly(r: &Run) {
    r.code(1).has("error: ").has("help: ").lacks("DispatchFailure").lacks("Some(").lacks("{ ").lacks("Error {").lacks("panicked");
}

/// Run a prepared command, returning its output and how long it took.
fn timed(mut c: Command) -> (Run, Duration) {
    let t = Instant::now();
    let r = Run::from(c.output().expect("run provision"));
    (r, t.elapsed())
}

#[test]
fn no_credentials_says_where_it_looked() {
    let emu = Emulator::start();
    let p = Project::new(REPO);
    let mut c = emu.command(p.path(), &["plan"]);
    c.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
    let (r, took) = timed(c);
    failed_cleanly(&r);
    r.has("no AWS credentials found").has("AWS_PROFILE").has("aws configure");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_missing_profile_is_named() {
    let emu = Emulator::start();
    let p = Project::new(REPO);
    p.write("aws-config", "[profile other]\nregion = us-east-1\n");
    let mut c = emu.command(p.path(), &["plan", "--profile", "nope"]);
    c.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env("AWS_CONFIG_FILE", p.path().join("aws-config"));
    let (r, _) = timed(c);
    failed_cleanly(&r);
    r.has("AWS profile `nope` is not defined in").has("defined: other").has("aws configure list-profiles");
}

#[test]
fn a_refused_endpoint_fails_fast_naming_the_endpoint_setting() {
    let emu = Emulator::start();
    let p = Project::new(REPO);
    // A port that was free a moment ago: nothing listens there, connections are refused.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = emu.command(p.path(), &["plan"]);
    c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let (r, took) = timed(c);
    failed_cleanly(&r);
    r.has("GetCallerIdentity failed").has("cannot reach the endpoint").has("AWS_ENDPOINT_URL");
    assert!(took < Duration::from_secs(5), "a refused connection must fail fast, took {took:?}");
}

#[test]
fn a_silent_endpoint_times_out_within_the_settings() {
    let emu = Emulator::start();
    let p =
        Project::new(&REPO.replace("resources:", "settings: { connect_timeout_seconds: 1, attempt_timeout_seconds: 1, call_timeout_seconds: 3 }\nresources:"));
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let mut c = emu.command(p.path(), &["plan"]);
    c.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let (r, took) = timed(c);
    failed_cleanly(&r);
    r.has("GetCallerIdentity failed").has("in time").has("call_timeout_seconds");
    assert!(took < Duration::from_secs(10), "the call timeout is 3s, took {took:?}");
}

#[test]
fn server_errors_are_retried_then_reported_as_transient() {
    let emu = Emulator::start();
    let p = Project::new(REPO);
    emu.fault("sts", "GetCallerIdentity", "server_error", -1);
    let r = emu.provision(p.path(), &["plan"]);
    failed_cleanly(&r);
    r.has("InternalFailure").has("server error after all retries").has("run again");
    assert!(emu.calls()["by_operation"]["sts.GetCallerIdentity"].as_u64().unwrap() > 1, "5xx must be retried");
}

#[test]
fn throttling_names_the_parallelism_setting() {
    let emu = Emulator::start();
    let p = Project::new(REPO);
    emu.fault("sts", "GetCallerIdentity", "throttle", -1);
    let r = emu.provision(p.path(), &["plan"]);
    failed_cleanly(&r);
    r.has("Throttling").has("settings.parallelism");
}

#[test]
fn access_denied_names_the_action_and_the_address() {
    let emu = Emulator::start();
    let p = Project::new(REPO);
    emu.fault("ecr", "CreateRepository", "not_authorized", -1);
    let r = emu.provision(p.path(), &["apply", "--auto-approve"]);
    failed_cleanly(&r);
    r.has("ecr_repository.app: CreateRepository failed: AccessDeniedException").has("lack this permission");
}

/// CodeBuild refuses a fresh role for longer than the stack allows: the wait is visible every 10 s,
/// lasts the full `iam_propagation_timeout_seconds`, and the error names the role.
#[test]
fn iam_propagation_waits_are_shown_and_bounded() {
    let emu = Emulator::start();
    let p = Project::new(
        r#"stack: errs
settings: { iam_propagation_timeout_seconds: 25 }
resources:
  iam_role.build:
    name: errs-build-role
    trust_policy:
      Version: "2012-10-17"
      Statement: [{ Effect: Allow, Principal: { Service: codebuild.amazonaws.com }, Action: sts:AssumeRole }]
  codebuild_project.build:
    name: errs-build
    service_role: ${iam_role.build.arn}
    buildspec: buildspec.yml
    environment: { image: aws/codebuild/standard:7.0 }
"#,
    );
    emu.fault("codebuild", "CreateProject", "not_authorized", 1000);
    // The role has no permissions (`provision check` rightly objects): this test is about the wait.
    let (r, took) = timed(emu.command(p.path(), &["apply", "--auto-approve", "--ignore-check"]));
    failed_cleanly(&r);
    r.has("codebuild_project.build: still creating... [10s elapsed, waiting for IAM propagation of role arn:aws:iam::123456789012:role/errs-build-role")
        .has("codebuild_project.build: creating failed after 2")
        .has("role arn:aws:iam::123456789012:role/errs-build-role still cannot be assumed after 2");
    assert!(took >= Duration::from_secs(25), "gave up before the 25 s allowed: {took:?}");
    assert!(took < Duration::from_secs(45), "waited far past the 25 s allowed: {took:?}");
}

#[test]
fn a_region_flag_that_disagrees_with_the_stack_is_refused() {
    let emu = Emulator::start();
    let p = Project::new(&REPO.replace("resources:", "region: us-east-1\nresources:"));
    let r = emu.provision(p.path(), &["plan", "--region", "eu-west-1"]);
    failed_cleanly(&r);
    r.has("--region eu-west-1 disagrees with `region: us-east-1`").has("drop --region");
    assert!(emu.calls()["by_operation"].as_object().is_none_or(|m| m.is_empty()), "refused before any AWS call: {}", emu.calls());
}

#[tokio::test(flavor = "multi_thread")]
async fn detailed_exitcode_is_1_when_apply_would_refuse() {
    let emu = Emulator::start();
    let ecr = aws_sdk_ecr::Client::new(&emu.sdk_config().await);
    ecr.create_repository().repository_name("errs-app").send().await.unwrap();
    let p = Project::new(REPO);
    let r = emu.provision(p.path(), &["plan", "--detailed-exitcode"]);
    failed_cleanly(&r);
    r.has("! ecr_repository.app (errs-app) exists but is not this stack's").has("refusing to apply").has("adopt it");
}

#[test]
fn a_mistyped_flag_exits_1_with_a_suggestion() {
    let p = Project::new(REPO);
    let r = Run::from(Command::new(env!("CARGO_BIN_EXE_provision")).current_dir(p.path()).args(["plan", "--detailed-exitcod"]).output().unwrap());
    r.code(1).has("unexpected argument '--detailed-exitcod'").has("--detailed-exitcode").lacks("panicked");
}
