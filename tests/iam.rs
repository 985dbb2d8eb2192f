//! IAM roles and customer-managed policies against the emulator.

mod common;

use common::{Emulator, Project};

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn stack(description: &str, trust_service: &str, inline_action: &str, managed: &[&str], path: &str, doc_action: &str) -> String {
    let managed: Vec<String> = managed.iter().map(|m| format!("      - {m}\n")).collect();
    format!(
        r#"stack: iamtest
resources:
  iam_policy.assume:
    name: test-assume
    description: lets the deploy role assume the kubectl role
    document:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: {doc_action}
          Resource: "${{iam_role.target.arn}}"
  iam_role.target:
    name: test-target
    trust_policy: {{ file: policies/target-trust.json }}
  iam_role.deploy:
    name: test-deploy
    path: {path}
    description: {description}
    max_session_duration: 3600
    trust_policy:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Principal: {{ Service: {trust_service} }}
          Action: sts:AssumeRole
    inline_policies:
      logs:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: [{inline_action}]
            Resource: "*"
    managed_policies:
{}"#,
        managed.concat()
    )
}

fn project(yaml: &str) -> Project {
    let p = Project::new(yaml);
    // The account id principal is stored by IAM as arn:aws:iam::ID:root: no diff either way.
    p.write(
        "policies/target-trust.json",
        r#"{ "Version": "2012-10-17", "Statement": { "Effect": "Allow", "Principal": { "AWS": "${account_id}" }, "Action": ["sts:AssumeRole"], "Sid": "" } }"#,
    );
    p
}

async fn iam(emu: &Emulator) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&emu.sdk_config().await)
}

async fn attached(c: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    let mut v: Vec<String> =
        c.list_attached_role_policies().role_name(role).send().await.unwrap().attached_policies().iter().map(|p| p.policy_arn().unwrap().to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn role_and_policy_lifecycle() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let policy_arn = format!("arn:aws:iam::{}:policy/test-assume", common::ACCOUNT);
    let p = project(&stack(
        "deploy stage",
        "codebuild.amazonaws.com",
        "logs:PutLogEvents",
        &["CloudWatchLogsFullAccess", "${iam_policy.assume.arn}"],
        "/",
        "sts:AssumeRole",
    ));

    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("Plan: 3 to add, 0 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let role = c.get_role().role_name("test-deploy").send().await.unwrap().role.unwrap();
    assert_eq!(role.description(), Some("deploy stage"));
    assert!(role.tags().iter().any(|t| t.key() == "provision:stack" && t.value() == "iamtest"));
    assert_eq!(attached(&c, "test-deploy").await, vec![policy_arn.clone(), "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess".to_string()]);
    let inline = c.get_role_policy().role_name("test-deploy").policy_name("logs").send().await.unwrap();
    assert!(inline.policy_document().contains("PutLogEvents") || inline.policy_document().contains("PutLogEvents".replace(':', "%3A").as_str()));
    // The policy's document names the target role by its resolved ARN.
    let v = c.get_policy_version().policy_arn(&policy_arn).version_id("v1").send().await.unwrap();
    assert!(v.policy_version().unwrap().document().unwrap().contains("test-target"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // Every mutable field in place.
    p.write_stack(&stack(
        "deploy stage v2",
        "codepipeline.amazonaws.com",
        "logs:CreateLogStream",
        &["AmazonS3FullAccess", "${iam_policy.assume.arn}"],
        "/",
        "sts:AssumeRole",
    ));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("~ iam_role.deploy (test-deploy) will be updated in place")
        .has("~ description: \"deploy stage\" -> \"deploy stage v2\"")
        .has("~ trust_policy.Statement:")
        .has("+    \"Principal\": {\"Service\": \"codepipeline.amazonaws.com\"}")
        .has("~ inline_policies.logs.Statement:")
        .has("~ managed_policies:")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert_eq!(attached(&c, "test-deploy").await, vec![policy_arn.clone(), "arn:aws:iam::aws:policy/AmazonS3FullAccess".to_string()]);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // An inline policy added behind the stack's back is shown and removed.
    c.put_role_policy()
        .role_name("test-deploy")
        .policy_name("sneaky")
        .policy_document(TRUST.replace("sts:AssumeRole", "s3:*").replace("\"Principal\":{\"Service\":\"codebuild.amazonaws.com\"},", "\"Resource\":\"*\","))
        .send()
        .await
        .unwrap();
    emu.provision(p.path(), &["plan"]).ok().has("- inline_policies.sneaky:");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let names = c.list_role_policies().role_name("test-deploy").send().await.unwrap().policy_names;
    assert_eq!(names, vec!["logs".to_string()]);

    // The policy document changes six times: a new default version each time, never more than five.
    for i in 0..6 {
        let action = format!(
            "sts:{}",
            ["AssumeRole", "TagSession", "GetCallerIdentity", "AssumeRoleWithWebIdentity", "DecodeAuthorizationMessage", "GetSessionToken"][i]
        );
        p.write_stack(&stack(
            "deploy stage v2",
            "codepipeline.amazonaws.com",
            "logs:CreateLogStream",
            &["AmazonS3FullAccess", "${iam_policy.assume.arn}"],
            "/",
            &action,
        ));
        emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
        let versions = c.list_policy_versions().policy_arn(&policy_arn).send().await.unwrap();
        assert!(versions.versions().len() <= 5, "IAM allows five versions, found {}", versions.versions().len());
    }
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);

    // A new path cannot be set in place: the role is replaced (and its attachments come back).
    p.write_stack(&stack(
        "deploy stage v2",
        "codepipeline.amazonaws.com",
        "logs:CreateLogStream",
        &["AmazonS3FullAccess", "${iam_policy.assume.arn}"],
        "/ci/",
        "sts:GetSessionToken",
    ));
    emu.provision(p.path(), &["plan"]).ok().has("-/+ iam_role.deploy (test-deploy) must be replaced").has("reason: `path` cannot change in place");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert_eq!(c.get_role().role_name("test-deploy").send().await.unwrap().role.unwrap().path(), "/ci/");
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // Destroy, with the policy also attached to a role that is not the stack's.
    c.create_role().role_name("outsider").assume_role_policy_document(TRUST).send().await.unwrap();
    c.attach_role_policy().role_name("outsider").policy_arn(&policy_arn).send().await.unwrap();
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok().has("Destroy complete! Resources: 3 destroyed.");
    assert!(c.get_role().role_name("test-deploy").send().await.is_err());
    assert!(c.get_role().role_name("test-target").send().await.is_err());
    assert!(c.get_policy().policy_arn(&policy_arn).send().await.is_err());
    assert!(c.get_role().role_name("outsider").send().await.is_ok(), "the outsider role is not the stack's");
}

#[tokio::test(flavor = "multi_thread")]
async fn unowned_role_is_left_alone() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    c.create_role().role_name("test-deploy").assume_role_policy_document(TRUST).description("hand made").send().await.unwrap();
    let p = project(&stack("deploy stage", "codebuild.amazonaws.com", "logs:PutLogEvents", &["CloudWatchLogsFullAccess"], "/", "sts:AssumeRole"));
    emu.provision(p.path(), &["plan"]).ok().has("! iam_role.deploy (test-deploy) exists but is not this stack's");
    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1).has("refusing to apply");
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
    assert_eq!(c.get_role().role_name("test-deploy").send().await.unwrap().role.unwrap().description(), Some("hand made"));
}

#[tokio::test(flavor = "multi_thread")]
async fn misspelt_managed_policy_gets_a_useful_error() {
    let emu = Emulator::start();
    let p = project(&stack("x", "codebuild.amazonaws.com", "logs:PutLogEvents", &["CloudWatchLogFullAccess"], "/", "sts:AssumeRole"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1).has("AttachRolePolicy").has("check the spelling of `CloudWatchLogFullAccess`");
}

#[tokio::test(flavor = "multi_thread")]
async fn policy_description_change_replaces_and_unowned_policy_is_left_alone() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let y = |d: &str| format!("stack: iamtest\nresources:\n  iam_policy.p:\n    name: test-policy\n    description: {d}\n    document: {doc}\n");
    let p = Project::new(&y("first"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    p.write_stack(&y("second"));
    emu.provision(p.path(), &["plan"]).ok().has("-/+ iam_policy.p (test-policy) must be replaced").has("IAM cannot change a managed policy's description");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let arn = format!("arn:aws:iam::{}:policy/test-policy", common::ACCOUNT);
    assert_eq!(c.get_policy().policy_arn(&arn).send().await.unwrap().policy.unwrap().description(), Some("second"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);

    c.create_policy().policy_name("foreign-policy").policy_document(doc).send().await.unwrap();
    let q = Project::new(&format!("stack: iamtest-other\nresources:\n  iam_policy.p:\n    name: foreign-policy\n    document: {doc}\n"));
    emu.reset_calls();
    emu.provision(q.path(), &["plan"]).ok().has("exists but is not this stack's");
    emu.provision(q.path(), &["destroy", "--auto-approve"]).ok();
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
}
