//! `provision check`: the course's own failures caught before any AWS call, and the plan/apply
//! integration against the emulator.

mod common;

use common::{Emulator, Project, Run};
use std::process::Command;

/// `provision check` with no AWS configuration at all: it must not need any.
fn check(p: &Project, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_provision"))
        .current_dir(p.path())
        .args(["check", "-s", "stacks/test.yaml"])
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run provision");
    Run::from(out)
}

fn seed_with(edit: impl Fn(String) -> String) -> Project {
    let p = Project::seed("eks-devops.yaml");
    let text = std::fs::read_to_string(p.path().join("stacks/test.yaml")).unwrap();
    p.write_stack(&edit(text));
    p
}

#[test]
fn the_seed_stack_passes_every_hop_offline_and_fast() {
    let p = Project::seed("eks-devops.yaml");
    let start = std::time::Instant::now();
    check(&p, &[])
        .ok()
        .has("ok    build role can push to repository eks-devops")
        .has("ok    deploy role can assume EksCodeBuildKubectlRole (identity side)")
        .has("0 failed")
        .has("warning[system-masters]");
    assert!(start.elapsed() < std::time::Duration::from_secs(1), "{:?}", start.elapsed());
}

#[test]
fn step_06_04_forgotten_ecr_access_fails_exactly_the_push_hop() {
    let p = seed_with(|t| t.replace("      - AmazonEC2ContainerRegistryFullAccess\n", ""));
    let r = check(&p, &[]);
    r.code(1).has("FAIL  build role cannot push to repository eks-devops").has("1 failed");
}

#[test]
fn step_07_06_forgotten_sts_policy_fails_exactly_the_identity_side() {
    let p = seed_with(|t| t.replace("    managed_policies:\n      - ${iam_policy.sts_assume_kubectl.arn}\n", ""));
    check(&p, &[]).code(1).has("FAIL  deploy role cannot assume EksCodeBuildKubectlRole (identity side)").has("1 failed");
}

#[test]
fn a_trust_narrowed_to_another_role_fails_the_trust_side() {
    let p = seed_with(|t| t);
    p.write(
        "policies/kubectl-role-trust.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::${account_id}:role/someone-else"},"Action":"sts:AssumeRole"}]}"#,
    );
    check(&p, &[]).code(1).has("FAIL  deploy role cannot assume EksCodeBuildKubectlRole (trust side)");
}

#[test]
fn step_07_05_forgotten_aws_auth_entry_fails_the_kubernetes_hop() {
    let p = seed_with(|t| t[..t.find("  # Step-07-05").unwrap()].to_string());
    check(&p, &[]).code(1).has("FAIL  kubectl role cannot use Kubernetes on cluster eksdemo1");
}

#[test]
fn json_and_sarif_are_machine_readable() {
    let p = Project::seed("eks-devops.yaml");
    let r = check(&p, &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert!(v["hops"].as_array().is_some_and(|h| h.len() >= 17), "{v}");
    let r = check(&p, &["--format", "sarif"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("SARIF is JSON");
    assert_eq!(v["version"], "2.1.0");
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "system-masters"), "{results:?}");
    // Results point at the resource in the stack file.
    let loc = &results.iter().find(|r| r["ruleId"] == "system-masters").unwrap()["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "stacks/test.yaml");
    assert!(loc["region"]["startLine"].as_u64().unwrap() > 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_check_problems_and_apply_refuses_them() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let p = seed_with(|t| t.replace("      - AmazonEC2ContainerRegistryFullAccess\n", ""));
    // The hops that pass are left out of a plan, and so are the blank lines between their groups.
    emu.provision(p.path(), &["plan"]).ok().has("Check: (`provision check` for every hop)\n  FAIL  build role cannot push to repository eks-devops");
    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1).has("refusing to apply").has("--ignore-check");
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
    // With the account at hand, the cluster's authentication mode is known: the Kubernetes hop passes.
    let q = Project::seed("eks-devops.yaml");
    emu.provision(q.path(), &["check", "--live"]).ok().has("ok    kubectl role can use Kubernetes on cluster eksdemo1");
}

#[tokio::test(flavor = "multi_thread")]
async fn access_denied_is_decoded_and_tied_to_the_stack_role_it_names() {
    let emu = Emulator::start();
    let p = Project::new(
        "stack: denied\nresources:\n  iam_role.build:\n    name: denied-build\n    trust_policy:\n      Version: \"2012-10-17\"\n      Statement: [{ Effect: Allow, Principal: { Service: codebuild.amazonaws.com }, Action: sts:AssumeRole }]\n  ecr_repository.app:\n    name: denied-app\n",
    );
    emu.admin(
        "POST",
        "faults",
        Some(serde_json::json!({"service": "ecr", "operation": "CreateRepository", "kind": "access_denied", "count": -1, "encoded": true,
            "principal": format!("arn:aws:sts::{}:assumed-role/denied-build/session", common::ACCOUNT),
            "resource": format!("arn:aws:ecr:us-east-1:{}:repository/denied-app", common::ACCOUNT)})),
    );
    emu.provision(p.path(), &["apply", "--auto-approve"])
        .code(1)
        .has("ecr_repository.app: CreateRepository failed: AccessDeniedException")
        .has("decoded: allowed=false")
        .has("check: build role cannot ecr:CreateRepository")
        .has("to change: add this statement")
        .lacks("Some(");
}
