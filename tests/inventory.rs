//! The account, not the stack file, tells what a stack owns: what leaves the file is deleted, an
//! identity change replaces the resource recorded for its address and re-points what referred to it.

mod common;

use common::{Emulator, Project, ACCOUNT};

/// The seed stack plus the one kind it lacks (an EKS access entry for the kubectl role) and an
/// anchor topic that stays, so the last removal still leaves a valid stack.
fn full_stack() -> String {
    let seed = std::fs::read_to_string(common::repo_root().join("stacks/eks-devops.yaml")).unwrap();
    format!(
        "{seed}
  eks_access_entry.kubectl:
    cluster: ${{var.cluster_name}}
    principal_arn: ${{iam_role.kubectl.arn}}
    kubernetes_groups: [deployers]
    access_policies:
      - policy: AmazonEKSEditPolicy
        scope: {{ type: namespace, namespaces: [default] }}

  sns_topic.anchor:
    name: inventory-anchor
"
    )
}

/// The stack text without the resource at `address` (its block: the `  KIND.NAME:` line and
/// everything indented deeper below it).
fn without(yaml: &str, address: &str) -> String {
    let head = format!("  {address}:");
    let mut out = String::new();
    let (mut skipping, mut found) = (false, false);
    for line in yaml.lines() {
        if line == head {
            (skipping, found) = (true, true);
            continue;
        }
        if skipping && (line.trim().is_empty() || line.starts_with("   ")) {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
    }
    assert!(found, "{address} is not in the stack");
    out
}

struct Clients {
    ecr: aws_sdk_ecr::Client,
    s3: aws_sdk_s3::Client,
    cs: aws_sdk_codestarconnections::Client,
    sns: aws_sdk_sns::Client,
    iam: aws_sdk_iam::Client,
    cb: aws_sdk_codebuild::Client,
    cp: aws_sdk_codepipeline::Client,
    eks: aws_sdk_eks::Client,
}

async fn clients(emu: &Emulator) -> Clients {
    let conf = emu.sdk_config().await;
    Clients {
        ecr: aws_sdk_ecr::Client::new(&conf),
        s3: aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build()),
        cs: aws_sdk_codestarconnections::Client::new(&conf),
        sns: aws_sdk_sns::Client::new(&conf),
        iam: aws_sdk_iam::Client::new(&conf),
        cb: aws_sdk_codebuild::Client::new(&conf),
        cp: aws_sdk_codepipeline::Client::new(&conf),
        eks: aws_sdk_eks::Client::new(&conf),
    }
}

fn map_roles(emu: &Emulator) -> String {
    emu.admin("GET", "kube/kube-system/configmaps/aws-auth", None)["data"]["mapRoles"].as_str().unwrap_or_default().to_string()
}

/// Is anything of `address` (as the seed names it) still in the account?
async fn present(emu: &Emulator, c: &Clients, address: &str) -> bool {
    match address {
        "codepipeline.main" => c.cp.get_pipeline().name("eks-devops").send().await.is_ok(),
        "codebuild_project.build" => !c.cb.batch_get_projects().names("build-eks-devops").send().await.unwrap().projects().is_empty(),
        "codebuild_project.deploy" => !c.cb.batch_get_projects().names("deploy-eks-devops").send().await.unwrap().projects().is_empty(),
        "eks_aws_auth_role.kubectl" => map_roles(emu).contains("EksCodeBuildKubectlRole"),
        "eks_access_entry.kubectl" => {
            let list = c.eks.list_access_entries().cluster_name("eksdemo1").send().await.unwrap();
            list.access_entries().iter().any(|a| a.contains("EksCodeBuildKubectlRole"))
        }
        "iam_role.build" => c.iam.get_role().role_name("buildphase-codebuild-eks-devops-service-role").send().await.is_ok(),
        "iam_role.pipeline" => c.iam.get_role().role_name("eks-devops-codepipeline-service-role").send().await.is_ok(),
        "iam_role.deploy" => c.iam.get_role().role_name("deployphase-codebuild-eks-devops-service-role").send().await.is_ok(),
        "iam_role.kubectl" => c.iam.get_role().role_name("EksCodeBuildKubectlRole").send().await.is_ok(),
        "iam_policy.sts_assume_kubectl" => {
            let list = c.iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.unwrap();
            list.policies().iter().any(|p| p.policy_name() == Some("eks-codebuild-sts-assume-role"))
        }
        "sns_topic.approval" => {
            c.sns.get_topic_attributes().topic_arn(format!("arn:aws:sns:us-east-1:{ACCOUNT}:eks-devops-topic1")).send().await.is_ok()
                || !c
                    .sns
                    .list_subscriptions()
                    .send()
                    .await
                    .unwrap()
                    .subscriptions()
                    .iter()
                    .all(|s| !s.topic_arn().unwrap_or_default().ends_with(":eks-devops-topic1"))
        }
        "s3_bucket.artifacts" => c.s3.head_bucket().bucket(format!("eks-devops-artifacts-{ACCOUNT}-us-east-1")).send().await.is_ok(),
        "codestar_connection.github" => {
            c.cs.list_connections().send().await.unwrap().connections().iter().any(|x| x.connection_name() == Some("eks-devops-github-connection"))
        }
        "ecr_repository.app" => c.ecr.describe_repositories().repository_names("eks-devops").send().await.is_ok(),
        other => panic!("no check for {other}"),
    }
}

/// Every kind leaves the stack file in turn (dependents first, as a user must): the plan shows the
/// delete and exits 2, apply deletes it and nothing of it is left, and the next plan is clean.
#[tokio::test(flavor = "multi_thread")]
async fn every_kind_removed_from_the_stack_file_is_deleted() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let c = clients(&emu).await;
    let mut yaml = full_stack();
    let p = Project::seed("eks-devops.yaml");
    p.write_stack(&yaml);
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    let steps: &[&[&str]] = &[
        &["codepipeline.main"],
        &["codebuild_project.build", "codebuild_project.deploy"],
        &["eks_aws_auth_role.kubectl"],
        &["eks_access_entry.kubectl"],
        &["iam_role.build", "iam_role.pipeline", "iam_role.deploy"],
        &["iam_policy.sts_assume_kubectl"],
        &["iam_role.kubectl"],
        &["sns_topic.approval"],
        &["s3_bucket.artifacts"],
        &["codestar_connection.github"],
        &["ecr_repository.app"],
    ];
    for addresses in steps {
        for a in *addresses {
            assert!(present(&emu, &c, a).await, "{a} was applied");
            yaml = without(&yaml, a);
        }
        p.write_stack(&yaml);
        let plan = emu.provision(p.path(), &["plan", "--detailed-exitcode"]);
        plan.code(2).has(&format!("Plan: 0 to add, 0 to change, {} to destroy.", addresses.len()));
        for a in *addresses {
            let line = plan.stdout.lines().find(|l| l.trim_start().starts_with(&format!("- {a} ")));
            assert!(
                line.is_some_and(|l| l.ends_with("will be destroyed (no longer in the stack file)")),
                "{a}: expected a delete (no longer in the stack file)\n{}",
                plan.stdout
            );
        }
        emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
        for a in *addresses {
            assert!(!present(&emu, &c, a).await, "{a} is still in the account after apply");
        }
        emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
    }
    // The node roles' entries in aws-auth were never touched.
    assert!(map_roles(&emu).contains("NodeInstanceRole"));
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok().has("Resources: 1 destroyed.");
}

const TRUST: &str = r#"{ Version: "2012-10-17", Statement: [{ Effect: Allow, Principal: { Service: codebuild.amazonaws.com }, Action: "sts:AssumeRole" }] }"#;

fn policy_stack(path: &str, description: &str) -> String {
    format!(
        r#"stack: idtest
resources:
  iam_policy.p:
    name: id-policy
    path: {path}
    description: {description}
    document: {{ Version: "2012-10-17", Statement: [{{ Effect: Allow, Action: "s3:GetObject", Resource: "*" }}] }}
  iam_role.a:
    name: id-role-a
    trust_policy: {TRUST}
    managed_policies: ["${{iam_policy.p.arn}}"]
  iam_role.b:
    name: id-role-b
    trust_policy: {TRUST}
    managed_policies: [CloudWatchLogsFullAccess, "${{iam_policy.p.arn}}"]
"#
    )
}

async fn local_policies(iam: &aws_sdk_iam::Client) -> Vec<String> {
    let list = iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.unwrap();
    let mut v: Vec<String> = list.policies().iter().filter_map(|p| p.arn().map(str::to_string)).collect();
    v.sort();
    v
}

async fn attached(iam: &aws_sdk_iam::Client, role: &str) -> Vec<String> {
    let out = iam.list_attached_role_policies().role_name(role).send().await.unwrap();
    let mut v: Vec<String> = out.attached_policies().iter().filter_map(|p| p.policy_arn().map(str::to_string)).collect();
    v.sort();
    v
}

/// A policy's `path` is part of its ARN: a change replaces it, the old one goes, and the roles
/// that attach it hold the new one when apply ends. A new description replaces it too (IAM cannot
/// change it in place), and its roles are not left without it.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_policy_is_gone_and_its_roles_hold_the_new_one() {
    let emu = Emulator::start();
    let iam = clients(&emu).await.iam;
    let old = format!("arn:aws:iam::{ACCOUNT}:policy/a/id-policy");
    let new = format!("arn:aws:iam::{ACCOUNT}:policy/b/id-policy");
    let logs = "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess".to_string();
    let p = Project::new(&policy_stack("/a/", "first"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert_eq!(local_policies(&iam).await, vec![old.clone()]);
    assert_eq!(attached(&iam, "id-role-b").await, vec![old.clone(), logs.clone()]);

    p.write_stack(&policy_stack("/b/", "first"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("-/+ iam_policy.p (id-policy) must be replaced")
        .has("`path` cannot change in place")
        .has("~ path: \"/a/\" -> \"/b/\"")
        .has("~ iam_role.a (id-role-a) will be updated in place")
        .has(&format!("~ managed_policies: [\"{old}\"] -> [\"{new}\"]"))
        .has("Plan: 1 to add, 2 to change, 1 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert_eq!(local_policies(&iam).await, vec![new.clone()], "the old policy is gone");
    assert_eq!(attached(&iam, "id-role-a").await, vec![new.clone()]);
    assert_eq!(attached(&iam, "id-role-b").await, vec![new.clone(), logs.clone()]);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    p.write_stack(&policy_stack("/b/", "second"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("-/+ iam_policy.p (id-policy) must be replaced");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let got = iam.get_policy().policy_arn(&new).send().await.unwrap().policy.unwrap();
    assert_eq!(got.description(), Some("second"));
    assert_eq!(attached(&iam, "id-role-a").await, vec![new.clone()], "the replaced policy is attached again when apply ends");
    assert_eq!(attached(&iam, "id-role-b").await, vec![new.clone(), logs]);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(local_policies(&iam).await.is_empty());
}

fn role_stack(path: &str) -> String {
    format!(
        r#"stack: idtest
resources:
  iam_role.kubectl:
    name: id-kubectl
    path: {path}
    trust_policy: {{ Version: "2012-10-17", Statement: [{{ Effect: Allow, Principal: {{ AWS: "${{account_id}}" }}, Action: "sts:AssumeRole" }}] }}
  eks_access_entry.kubectl:
    cluster: eksdemo1
    principal_arn: ${{iam_role.kubectl.arn}}
    kubernetes_groups: [deployers]
  eks_aws_auth_role.kubectl:
    cluster: eksdemo1
    role_arn: ${{iam_role.kubectl.arn}}
    username: build
    groups: [system:masters]
"#
    )
}

/// A role's `path` is part of its ARN: the access entry and the aws-auth entry that name it
/// follow it to the new role in the same apply, and the old access entry does not stay behind.
#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_role_takes_its_access_entry_and_aws_auth_entry_along() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let c = clients(&emu).await;
    let entries = || async {
        let mut v = c.eks.list_access_entries().cluster_name("eksdemo1").send().await.unwrap().access_entries().to_vec();
        v.sort();
        v
    };
    let p = Project::new(&role_stack("/"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert_eq!(entries().await, vec![format!("arn:aws:iam::{ACCOUNT}:role/id-kubectl")]);
    let auth_before = map_roles(&emu);
    assert_eq!(auth_before.matches("role/id-kubectl").count(), 1, "{auth_before}");

    p.write_stack(&role_stack("/ci/"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("-/+ iam_role.kubectl (id-kubectl) must be replaced")
        .has("-/+ eks_access_entry.kubectl");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let new_role = c.iam.get_role().role_name("id-kubectl").send().await.unwrap().role.unwrap();
    assert_eq!(new_role.path(), "/ci/");
    assert_eq!(entries().await, vec![format!("arn:aws:iam::{ACCOUNT}:role/ci/id-kubectl")], "the old entry is gone, the new one names the new ARN");
    let e = c.eks.describe_access_entry().cluster_name("eksdemo1").principal_arn(new_role.arn()).send().await.unwrap().access_entry.unwrap();
    assert_eq!(e.kubernetes_groups(), ["deployers".to_string()]);
    // aws-auth names roles without their path (the authenticator matches that form): one entry still.
    let auth = map_roles(&emu);
    assert_eq!(auth.matches("role/id-kubectl").count(), 1, "{auth}");
    assert!(auth.contains("NodeInstanceRole"), "{auth}");
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(entries().await.is_empty());
    assert!(!map_roles(&emu).contains("id-kubectl"));
}

fn topic_stack(emails: &[&str]) -> String {
    let subs: String = emails.iter().map(|e| format!("      - {{ protocol: email, endpoint: {e} }}\n")).collect();
    format!("stack: idtest\nresources:\n  sns_topic.approval:\n    name: id-topic\n    subscriptions:\n{subs}")
}

/// An e-mail subscription still pending confirmation cannot be deleted: once it leaves the stack
/// the plan says so in a note, apply changes nothing and says nothing changed, and it never
/// becomes a perpetual diff.
#[tokio::test(flavor = "multi_thread")]
async fn a_pending_subscription_removed_from_the_stack_is_a_note_not_a_diff() {
    let emu = Emulator::start();
    let p = Project::new(&topic_stack(&["a@example.com", "b@example.com"]));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    p.write_stack(&topic_stack(&["a@example.com"]));
    let note = "subscription email:b@example.com is no longer in the stack but still awaits confirmation";
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.").has(note).lacks("~ subscriptions");
    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().lacks("changed").lacks("Apply complete!");
    assert!(emu.write_calls().is_empty(), "apply made no call that changes anything: {:?}", emu.write_calls());
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has(note);
}
