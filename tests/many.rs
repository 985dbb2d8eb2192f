//! Several stacks in one run, in two emulated accounts: one stack acts in the caller's account,
//! the other assumes a role in a second account (`assume_role:` with an external id). Planned and
//! applied together, summed up in one table; one stack's failure leaves the others applied; the
//! shared rate limiting rides out injected throttling.

mod common;

use common::{Emulator, Project, ACCOUNT};

const OTHER: &str = "222222222222";

/// A key that acts in the second account (the emulator's admin mapping), to set it up.
async fn other_account(emu: &Emulator) -> aws_config::SdkConfig {
    emu.admin("POST", "accounts", Some(serde_json::json!({"access_key_id": "ADMINOTHERACCOUNT", "account_id": OTHER})));
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(common::REGION))
        .endpoint_url(&emu.url)
        .credentials_provider(aws_credential_types::Credentials::new("ADMINOTHERACCOUNT", "testing", None, None, "test"))
        .load()
        .await
}

/// The role the first account's caller assumes in the second: trusted for the caller's account,
/// with an external id.
async fn applier_role(config: &aws_config::SdkConfig) {
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"team-b-7f3a"}}}}}}]}}"#
    );
    aws_sdk_iam::Client::new(config).create_role().role_name("provision-applier").assume_role_policy_document(trust).send().await.unwrap();
}

fn stack(name: &str, assume: &str, extra: &str) -> String {
    format!(
        "stack: {name}\nregion: us-east-1\n{assume}resources:\n  ecr_repository.app:\n    name: {name}-app\n  iam_role.build:\n    name: {name}-build\n    trust_policy:\n      Version: \"2012-10-17\"\n      Statement:\n        - Effect: Allow\n          Principal: {{ Service: codebuild.amazonaws.com }}\n          Action: sts:AssumeRole\n{extra}"
    )
}

fn team_b_assume(external_id: &str) -> String {
    format!("assume_role:\n  role_arn: arn:aws:iam::{OTHER}:role/provision-applier\n  external_id: {external_id}\n  session_name: provision-team-b\n")
}

async fn repositories(config: &aws_config::SdkConfig) -> Vec<String> {
    let out = aws_sdk_ecr::Client::new(config).describe_repositories().send().await.unwrap();
    let mut names: Vec<String> = out.repositories().iter().filter_map(|r| r.repository_name().map(str::to_string)).collect();
    names.sort();
    names
}

#[tokio::test]
async fn two_stacks_in_two_accounts_plan_apply_and_destroy_in_one_run() {
    let emu = Emulator::start();
    let other = other_account(&emu).await;
    applier_role(&other).await;
    let p = Project::new(&stack("team-a", "", ""));
    std::fs::rename(p.path().join("stacks/test.yaml"), p.path().join("stacks/a.yaml")).unwrap();
    p.write("stacks/b.yaml", &stack("team-b", &team_b_assume("team-b-7f3a"), ""));
    emu.reset_calls();

    // A folder stands for its stack files; each plan names the account it acts in.
    let plan = emu.provision(p.path(), &["plan", "-s", "stacks", "--detailed-exitcode"]);
    plan.code(2)
        .has(&format!("for stack team-a (account {ACCOUNT}, region us-east-1)"))
        .has(&format!("for stack team-b (account {OTHER}, region us-east-1)"))
        .has("STACK   ACCOUNT       REGION     ADD  CHANGE  DESTROY  STATUS")
        .has(&format!("team-a  {ACCOUNT}  us-east-1    2       0        0  changes"))
        .has(&format!("team-b  {OTHER}  us-east-1    2       0        0  changes"));
    assert!(emu.write_calls().iter().all(|c| c == "sts.AssumeRole"), "a plan changes nothing: {:?}", emu.write_calls());

    emu.provision(p.path(), &["apply", "-s", "stacks/a.yaml", "-s", "stacks/b.yaml", "--auto-approve"])
        .ok()
        .has("[team-a] ecr_repository.app: created")
        .has("[team-b] iam_role.build: created")
        .has(&format!("team-b  {OTHER}  us-east-1    2       0        0  applied"));
    // Each stack's resources are in its own account, and only there.
    assert_eq!(repositories(&emu.sdk_config().await).await, vec!["team-a-app"]);
    assert_eq!(repositories(&other).await, vec!["team-b-app"]);
    let assumed = emu.calls()["by_operation"]["sts.AssumeRole"].as_i64().unwrap_or(0);

    emu.provision(p.path(), &["plan", "-s", "stacks", "--detailed-exitcode"]).ok().has("no changes");
    // Clients are shared per account and region: one AssumeRole per run for team-b.
    assert_eq!(emu.calls()["by_operation"]["sts.AssumeRole"].as_i64().unwrap_or(0), assumed + 1);

    // `--assume-role` points a stack at a role; team-a names no external id, which the role's
    // trust requires: refused, with both halves of the trust named.
    emu.provision(p.path(), &["plan", "-s", "stacks/a.yaml", "--assume-role", &format!("arn:aws:iam::{OTHER}:role/provision-applier")])
        .code(1)
        .has("AssumeRole failed")
        .has("(2b)");

    // `whoami --assume-role` says who the calls would run as, and from which source.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    aws_sdk_iam::Client::new(&other).create_role().role_name("provision-reader").assume_role_policy_document(trust).send().await.unwrap();
    emu.provision(p.path(), &["whoami", "--assume-role", &format!("arn:aws:iam::{OTHER}:role/provision-reader")])
        .ok()
        .has(&format!("caller:      arn:aws:sts::{OTHER}:assumed-role/provision-reader/provision"))
        .has(&format!("account:     {OTHER}"))
        .has("[ProvisionAssumeRole]");

    emu.provision(p.path(), &["destroy", "-s", "stacks", "--auto-approve"]).ok().has("Destroy complete! Resources: 2 destroyed.");
    assert!(repositories(&emu.sdk_config().await).await.is_empty());
    assert!(repositories(&other).await.is_empty());
}

#[tokio::test]
async fn one_stack_failing_leaves_the_others_applied_and_the_exit_code_says_so() {
    let emu = Emulator::start();
    let other = other_account(&emu).await;
    applier_role(&other).await;
    let p = Project::new(&stack("team-a", "", ""));
    // team-b's external id is wrong: the role's trust refuses it. team-c's file is invalid.
    p.write("stacks/b.yaml", &stack("team-b", &team_b_assume("wrong-id"), ""));
    p.write("stacks/c.yaml", "stack: team-c\nresources:\n  ecr_repository.app:\n    nme: x\n");
    let out = emu.provision(p.path(), &["apply", "-s", "stacks", "--auto-approve"]);
    out.code(1)
        .has("AssumeRole failed")
        .has("(2a)")
        .has("unknown field `nme`")
        .has(&format!("team-a  {ACCOUNT}  us-east-1    2       0        0  applied"))
        .has("team-b  -             -            -       -        -  failed: AssumeRole failed: AccessDenied")
        .has("c       -             -            -       -        -  failed: 2 error(s) in the stack file");
    assert_eq!(repositories(&emu.sdk_config().await).await, vec!["team-a-app"]);
    assert!(repositories(&other).await.is_empty());
}

#[tokio::test]
async fn stacks_sharing_a_name_are_refused_rather_than_fighting_over_their_resources() {
    let emu = Emulator::start();
    let p = Project::new(&stack("same", "", ""));
    p.write("stacks/b.yaml", &stack("same", "", ""));
    emu.provision(p.path(), &["plan", "-s", "stacks"]).code(1).has("declares `stack: same`").has("give each stack file its own `stack:` name");
    assert!(emu.write_calls().is_empty());
}

#[tokio::test]
async fn throttled_calls_are_ridden_out_by_every_stack_of_the_run() {
    let emu = Emulator::start();
    let p = Project::new(&stack("team-a", "", ""));
    p.write("stacks/b.yaml", &stack("team-b", "", ""));
    p.write("stacks/c.yaml", &stack("team-c", "", ""));
    // IAM refuses the next six role creations with `Throttling`, whichever stack makes them.
    emu.fault("iam", "CreateRole", "throttle", 6);
    emu.provision(p.path(), &["apply", "-s", "stacks", "--auto-approve"]).ok().has("team-c  ").lacks("failed:").lacks("still creating");
    let calls = emu.calls()["by_operation"].clone();
    assert_eq!(calls["iam.CreateRole"].as_i64(), Some(9), "three roles, six throttled attempts retried");
    // IAM's account-wide listing is read once for the three stacks of the account.
    assert_eq!(calls["iam.GetAccountAuthorizationDetails"].as_i64(), Some(1), "{calls}");
    let iam = aws_sdk_iam::Client::new(&emu.sdk_config().await);
    for t in ["team-a", "team-b", "team-c"] {
        iam.get_role().role_name(format!("{t}-build")).send().await.unwrap();
    }
}

/// Ctrl-C reaches every stack's apply: each finishes what is in flight, starts nothing more, and
/// the run exits 130 with every stack marked interrupted.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_stops_every_stack_of_the_run() {
    let emu = Emulator::start();
    let chain = |name: &str| {
        format!("stack: {name}\nresources:\n  ecr_repository.a:\n    name: {name}-a\n  ecr_repository.b:\n    name: {name}-b\n    tags: {{ after: \"${{ecr_repository.a.name}}\" }}\n")
    };
    let p = Project::new(&chain("one"));
    p.write("stacks/two.yaml", &chain("two"));
    emu.admin("POST", "latency", Some(serde_json::json!({"ms": 700})));
    let child = emu
        .command(p.path(), &["apply", "-s", "stacks", "--auto-approve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while emu.calls()["by_operation"]["ecr.CreateRepository"].as_u64().unwrap_or(0) < 2 {
        assert!(std::time::Instant::now() < deadline, "the applies never started creating");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let r = common::Run::from(child.wait_with_output().unwrap());
    r.code(130)
        .has("[one] ecr_repository.a: created after")
        .has("[two] ecr_repository.a: created after")
        .lacks("ecr_repository.b: creating")
        .has("not applied: interrupted");
    emu.admin("POST", "latency", Some(serde_json::json!({"ms": 0})));
    assert_eq!(repositories(&emu.sdk_config().await).await, vec!["one-a", "two-a"]);
}

/// A same-named resource the stack does not own: the plan table says apply would refuse it, and
/// `--detailed-exitcode` exits 1 as for one stack; apply leaves it alone and applies the others.
#[tokio::test]
async fn a_stack_blocked_by_a_resource_it_does_not_own_is_held_and_the_others_go_on() {
    let emu = Emulator::start();
    aws_sdk_ecr::Client::new(&emu.sdk_config().await).create_repository().repository_name("team-b-app").send().await.unwrap();
    let p = Project::new(&stack("team-a", "", ""));
    p.write("stacks/b.yaml", &stack("team-b", "", ""));
    let held = "apply would refuse: ecr_repository.app exists and is not the stack's";
    emu.provision(p.path(), &["plan", "-s", "stacks"]).ok().has(held);
    emu.provision(p.path(), &["plan", "-s", "stacks", "--detailed-exitcode"]).code(1).has(held);
    emu.provision(p.path(), &["apply", "-s", "stacks", "--auto-approve"])
        .code(1)
        .has("not applied: ecr_repository.app exists and is not the stack's")
        .has(&format!("team-a  {ACCOUNT}  us-east-1    2       0        0  applied"));
    assert_eq!(repositories(&emu.sdk_config().await).await, vec!["team-a-app", "team-b-app"]);
}
