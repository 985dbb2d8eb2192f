//! Identity and scale-out: the least-privilege policies derived from what the code calls, the
//! `iam_oidc_provider` and `events_rule` kinds, the example stacks, and `provision whoami`.

mod common;

use common::{repo_root, Emulator, Project};
use serde_json::Value;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Least privilege: policies/provision-planner.json and policies/provision-applier.json must cover
// every AWS call the code makes.

/// The AWS API calls of one source file: the names given to `.op("X")`, `e.op("X")` and
/// `propagation("X", ...)` (the error reporters every call goes through), comments left out.
fn calls_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        // `resources::tags_or_list!` makes the call where it is used, with that kind's client.
        if line.contains("tags_or_list!(") {
            out.insert("ListTagsForResource".to_string());
        }
        for marker in [".op(\"", "propagation(\""] {
            let mut rest = line;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                if rest[name.len()..].starts_with('"') && name.starts_with(|c: char| c.is_ascii_uppercase()) {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Calls written without an operation name, found by hand: (file, service, API call).
const UNNAMED_CALLS: &[(&str, &str, &str)] = &[
    // Listing the region's clusters is best effort (a refusal is skipped), so it has no `.op`.
    ("src/resources/eks_aws_auth_role.rs", "eks", "ListClusters"),
];

/// The IAM service prefix of the client a file uses; files with several clients are split by call.
fn service(file: &str, call: &str) -> &'static str {
    let stem = file.rsplit('/').next().unwrap().trim_end_matches(".rs");
    match (stem, call) {
        ("reads", "GetResources") => "tag",
        ("review", "DecodeAuthorizationMessage") => "sts",
        ("review", _) => "iam",
        ("reads", _) => "iam",
        ("mod", _) if file.contains("/kube/") => "eks",
        ("mod", _) if file.contains("/engine/") => "sts",
        ("identity", _) => "sts",
        (s, _) if s.starts_with("iam") => "iam",
        (s, _) if s.starts_with("eks") => "eks",
        ("ecr_repository", _) => "ecr",
        ("s3_bucket", _) => "s3",
        ("sns_topic", _) => "sns",
        ("codebuild_project", _) => "codebuild",
        ("codepipeline", _) => "codepipeline",
        ("codestar_connection", _) => "codestar-connections",
        ("events_rule", _) => "events",
        _ => panic!("{file}: which AWS service does `{call}` belong to? Add the file to `service` in tests/identity.rs"),
    }
}

/// The IAM actions an API call needs, where they are not simply `service:Call`.
fn actions(service: &str, call: &str) -> Vec<String> {
    let named = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
    match (service, call) {
        ("s3", "HeadBucket") => named(&["s3:ListBucket"]),
        ("s3", "ListBuckets") => named(&["s3:ListAllMyBuckets"]),
        ("s3", "ListObjectVersions") => named(&["s3:ListBucketVersions"]),
        ("s3", "DeleteObjects") => named(&["s3:DeleteObject", "s3:DeleteObjectVersion"]),
        ("s3", "GetBucketEncryption") => named(&["s3:GetEncryptionConfiguration"]),
        ("s3", "PutBucketEncryption") => named(&["s3:PutEncryptionConfiguration"]),
        ("s3", "GetPublicAccessBlock") => named(&["s3:GetBucketPublicAccessBlock"]),
        ("s3", "PutPublicAccessBlock") => named(&["s3:PutBucketPublicAccessBlock"]),
        // Handing a service role to a service takes iam:PassRole; a pipeline's source takes the connection.
        ("codebuild", "CreateProject" | "UpdateProject") | ("events", "PutTargets") => vec![format!("{service}:{call}"), "iam:PassRole".into()],
        ("codepipeline", "CreatePipeline" | "UpdatePipeline") => {
            vec![format!("{service}:{call}"), "iam:PassRole".into(), "codestar-connections:PassConnection".into()]
        }
        _ => vec![format!("{service}:{call}")],
    }
}

fn is_read(call: &str) -> bool {
    ["Get", "List", "Describe", "BatchGet", "Head"].iter().any(|p| call.starts_with(p))
}

/// Every (file, call, IAM action) of the code.
fn code_actions() -> Vec<(String, String, String)> {
    let root = repo_root();
    let mut files = vec![root.join("src/identity.rs"), root.join("src/review.rs")];
    for dir in ["src/resources", "src/aws", "src/kube", "src/engine"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for path in files.into_iter().filter(|p| p.exists()) {
        let rel = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        // Getting credentials (assume_role: the caller assumes the applier) is not something
        // the planner or applier role does: the role that assumes needs sts:AssumeRole on it.
        if rel == "src/aws/assume.rs" {
            continue;
        }
        // It defines `tags_or_list!`, whose call is counted where the macro is used.
        if rel == "src/resources/mod.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut calls = calls_in(&text);
        calls.extend(UNNAMED_CALLS.iter().filter(|(f, ..)| *f == rel).map(|(.., c)| c.to_string()));
        for call in calls {
            let svc = UNNAMED_CALLS.iter().find(|(f, _, c)| *f == rel && *c == call).map(|(_, s, _)| *s).unwrap_or_else(|| service(&rel, &call));
            for a in actions(svc, &call) {
                out.push((rel.clone(), call.clone(), a));
            }
        }
    }
    out
}

/// The actions a policy file allows (lower case: IAM matches actions without case).
fn allowed(file: &str) -> BTreeSet<String> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(repo_root().join(file)).unwrap()).unwrap();
    let mut out = BTreeSet::new();
    for s in doc["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow", "{file}: only Allow statements are expected");
        match &s["Action"] {
            Value::String(a) => {
                out.insert(a.to_ascii_lowercase());
            }
            Value::Array(a) => out.extend(a.iter().map(|x| x.as_str().unwrap().to_ascii_lowercase())),
            other => panic!("{file}: Action {other}"),
        }
    }
    out
}

#[test]
fn the_call_scan_finds_every_kind_of_call_site() {
    let text = "x.send().await.op(\"CreateRole\")?;\n// e.op(\"NotThis\")\nlet err = e.op(\"DeleteRepository\");\nop.propagation(\"CreatePipeline\", &r, || f)";
    let found: Vec<String> = calls_in(text).into_iter().collect();
    assert_eq!(found, ["CreatePipeline", "CreateRole", "DeleteRepository"]);
    // The scan sees the kinds: a kind missing here would make the policy test below vacuous.
    let all = code_actions();
    for a in [
        "iam:CreateOpenIDConnectProvider",
        "events:PutRule",
        "eks:ListClusters",
        "tag:GetResources",
        "sts:GetCallerIdentity",
        "codebuild:CreateProject",
        "codepipeline:ListTagsForResource",
    ] {
        assert!(all.iter().any(|(.., x)| x == a), "the scan missed {a}");
    }
}

#[test]
fn the_applier_policy_allows_every_call_and_the_planner_every_read() {
    let (planner, applier) = (allowed("policies/provision-planner.json"), allowed("policies/provision-applier.json"));
    let mut missing = Vec::new();
    for (file, call, action) in code_actions() {
        if !applier.contains(&action.to_ascii_lowercase()) {
            missing.push(format!("provision-applier.json lacks {action} ({call} in {file})"));
        }
        if is_read(&call) && !planner.contains(&action.to_ascii_lowercase()) {
            missing.push(format!("provision-planner.json lacks {action} ({call} in {file})"));
        }
    }
    assert!(missing.is_empty(), "least-privilege policies are out of date:\n{}", missing.join("\n"));
}

#[test]
fn the_planner_policy_is_read_only_and_nothing_is_granted_that_is_never_called() {
    let used: BTreeSet<String> = code_actions().into_iter().map(|(.., a)| a.to_ascii_lowercase()).collect();
    for a in allowed("policies/provision-planner.json") {
        let name = a.split(':').nth(1).unwrap();
        assert!(["get", "list", "describe", "batchget"].iter().any(|p| name.starts_with(p)), "the planner may only read, but allows {a}");
    }
    for a in allowed("policies/provision-applier.json") {
        assert!(used.contains(&a), "provision-applier.json allows {a}, which provision never calls: remove it");
    }
}

// ---------------------------------------------------------------------------------------------
// iam_oidc_provider

const GITHUB: &str = "token.actions.githubusercontent.com";

fn oidc_stack(url: &str, client_ids: &[&str], thumbprint: Option<&str>, team: &str) -> String {
    let thumbprints = thumbprint.map(|t| format!("    thumbprints: [{t}]\n")).unwrap_or_default();
    format!(
        "stack: oidctest\nresources:\n  iam_oidc_provider.github:\n    url: {url}\n    client_ids: [{}]\n{thumbprints}    tags:\n      team: {team}\n",
        client_ids.join(", ")
    )
}

async fn iam(emu: &Emulator) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&emu.sdk_config().await)
}

fn provider_arn(host: &str) -> String {
    format!("arn:aws:iam::{}:oidc-provider/{host}", common::ACCOUNT)
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_provider_lifecycle() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = Project::new(&oidc_stack(&format!("https://{GITHUB}"), &["sts.amazonaws.com"], None, "platform"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("+ iam_oidc_provider.github").has("Plan: 1 to add, 0 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let got = c.get_open_id_connect_provider().open_id_connect_provider_arn(provider_arn(GITHUB)).send().await.unwrap();
    assert_eq!(got.client_id_list(), ["sts.amazonaws.com"]);
    assert!(got.tags().iter().any(|t| t.key() == "provision:stack" && t.value() == "oidctest"), "{:?}", got.tags());
    // IAM keeps the URL without its scheme; a trailing slash and the host's case are no change.
    p.write_stack(&oidc_stack(&format!("https://{}/", GITHUB.to_uppercase()), &["sts.amazonaws.com"], None, "platform"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // Audiences, thumbprints and tags change in place.
    let thumb = "6938fd4d98bab03faadb97b34396831e3780aea1";
    p.write_stack(&oidc_stack(&format!("https://{GITHUB}"), &["sigstore", "sts.amazonaws.com"], Some(thumb), "infra"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("~ iam_oidc_provider.github")
        .has("client_ids")
        .has("thumbprints")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let got = c.get_open_id_connect_provider().open_id_connect_provider_arn(provider_arn(GITHUB)).send().await.unwrap();
    let mut ids = got.client_id_list().to_vec();
    ids.sort();
    assert_eq!(ids, ["sigstore", "sts.amazonaws.com"]);
    assert_eq!(got.thumbprint_list(), [thumb]);
    assert!(got.tags().iter().any(|t| t.key() == "team" && t.value() == "infra"), "{:?}", got.tags());
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
    p.write_stack(&oidc_stack(&format!("https://{GITHUB}"), &["sts.amazonaws.com"], Some(thumb), "infra"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let got = c.get_open_id_connect_provider().open_id_connect_provider_arn(provider_arn(GITHUB)).send().await.unwrap();
    assert_eq!(got.client_id_list(), ["sts.amazonaws.com"]);

    // A new URL is a new provider: replaced, the old one gone.
    p.write_stack(&oidc_stack("https://oidc.example.com/issuer", &["sts.amazonaws.com"], None, "infra"));
    emu.provision(p.path(), &["plan"]).ok().has("IAM names an OIDC provider by its URL");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let arns: Vec<String> =
        c.list_open_id_connect_providers().send().await.unwrap().open_id_connect_provider_list().iter().filter_map(|p| p.arn().map(str::to_string)).collect();
    assert_eq!(arns, [provider_arn("oidc.example.com/issuer")]);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(c.list_open_id_connect_providers().send().await.unwrap().open_id_connect_provider_list().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oidc_provider_of_another_owner_is_not_taken_over() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    c.create_open_id_connect_provider().url(format!("https://{GITHUB}")).client_id_list("sts.amazonaws.com").send().await.unwrap();
    let p = Project::new(&oidc_stack(&format!("https://{GITHUB}"), &["sts.amazonaws.com"], None, "platform"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1).has("not owned by stack `oidctest`");
}

// ---------------------------------------------------------------------------------------------
// events_rule

fn rule_stack(schedule: &str, state: &str, targets: &[(&str, &str)]) -> String {
    let targets: String =
        targets.iter().map(|(id, input)| format!("      - id: {id}\n        arn: ${{sns_topic.drift.arn}}\n        input: '{input}'\n")).collect();
    format!(
        r#"stack: rules
resources:
  sns_topic.drift:
    name: rules-drift
  events_rule.daily:
    name: rules-daily
    description: daily drift check
    schedule_expression: {schedule}
    state: {state}
    targets:
{targets}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn events_rule_lifecycle() {
    let emu = Emulator::start();
    let ev = aws_sdk_eventbridge::Client::new(&emu.sdk_config().await);
    let p = Project::new(&rule_stack("rate(1 day)", "ENABLED", &[("notify", r#"{"check":"drift"}"#)]));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("+ events_rule.daily").has("Plan: 2 to add, 0 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let rule = ev.describe_rule().name("rules-daily").send().await.unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(1 day)"));
    let tags = ev.list_tags_for_resource().resource_arn(rule.arn().unwrap()).send().await.unwrap();
    assert!(tags.tags().iter().any(|t| t.key() == "provision:stack" && t.value() == "rules"), "{:?}", tags.tags());
    let targets = ev.list_targets_by_rule().rule("rules-daily").send().await.unwrap();
    assert_eq!(targets.targets().len(), 1);
    assert_eq!(targets.targets()[0].input(), Some(r#"{"check":"drift"}"#));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // Schedule, state and targets in place: one target's input changes, one is added, none lost.
    p.write_stack(&rule_stack("rate(12 hours)", "DISABLED", &[("notify", r#"{"check":"drift2"}"#), ("second", "{}")]));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("~ events_rule.daily")
        .has("schedule_expression")
        .has("targets.notify.input")
        .has("targets.second")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let rule = ev.describe_rule().name("rules-daily").send().await.unwrap();
    assert_eq!((rule.schedule_expression(), rule.state().map(|s| s.as_str())), (Some("rate(12 hours)"), Some("DISABLED")));
    assert_eq!(ev.list_targets_by_rule().rule("rules-daily").send().await.unwrap().targets().len(), 2);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // A target removed from the stack is removed from the rule.
    p.write_stack(&rule_stack("rate(12 hours)", "DISABLED", &[("second", "{}")]));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let ids: Vec<String> = ev.list_targets_by_rule().rule("rules-daily").send().await.unwrap().targets().iter().map(|t| t.id().to_string()).collect();
    assert_eq!(ids, ["second"]);

    // A target added behind the stack's back is drift, and removed.
    ev.put_targets()
        .rule("rules-daily")
        .targets(
            aws_sdk_eventbridge::types::Target::builder().id("sneaky").arn(format!("arn:aws:sns:us-east-1:{}:rules-drift", common::ACCOUNT)).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("targets.sneaky");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(ev.list_rules().send().await.unwrap().rules().is_empty());
}

#[test]
fn a_rule_without_schedule_or_pattern_is_refused_before_any_call() {
    let p = Project::new("stack: rules\nresources:\n  events_rule.empty:\n    name: nothing\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision")).current_dir(p.path()).arg("validate").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a rule needs `schedule_expression` or `event_pattern`"), "{err}");
    assert!(err.contains("help: add `schedule_expression: rate(1 day)`"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// The example stacks, as a user would use them: copied into a project's stacks/ beside policies/.

fn example(file: &str) -> Project {
    let root = repo_root();
    let p = Project::new(&std::fs::read_to_string(root.join("examples").join(file)).unwrap());
    for e in std::fs::read_dir(root.join("policies")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), p.path().join("policies").join(e.file_name())).unwrap();
    }
    p
}

fn full_cycle(emu: &Emulator, p: &Project, adds: usize) {
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has(&format!("Plan: {adds} to add, 0 to change, 0 to destroy."));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
}

#[tokio::test(flavor = "multi_thread")]
async fn github_actions_deployer_example_applies_and_destroys() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = example("github-actions-deployer.yaml");
    emu.provision(p.path(), &["validate"]).ok();
    full_cycle(&emu, &p, 5);
    let trust = |role: &'static str| {
        let c = c.clone();
        async move {
            let doc = c.get_role().role_name(role).send().await.unwrap().role.unwrap().assume_role_policy_document.unwrap();
            percent_encoding::percent_decode_str(&doc).decode_utf8_lossy().into_owned()
        }
    };
    let (planner, applier) = (trust("provision-github-planner").await, trust("provision-github-applier").await);
    assert!(planner.contains("repo:my-org/my-repo:pull_request") && !planner.contains("refs/heads"), "{planner}");
    assert!(applier.contains("repo:my-org/my-repo:ref:refs/heads/main") && !applier.contains("pull_request"), "{applier}");
    for doc in [&planner, &applier] {
        assert!(doc.contains(&provider_arn(GITHUB)) && doc.contains("sts.amazonaws.com") && doc.contains("StringEquals"), "{doc}");
    }
    let attached = c.list_attached_role_policies().role_name("provision-github-planner").send().await.unwrap();
    assert_eq!(attached.attached_policies()[0].policy_name(), Some("provision-planner"));
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(c.list_open_id_connect_providers().send().await.unwrap().open_id_connect_provider_list().is_empty());
    assert!(c.get_role().role_name("provision-github-applier").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_ci_example_applies_and_destroys() {
    let emu = Emulator::start();
    let p = example("provision-ci.yaml");
    emu.provision(p.path(), &["validate"]).ok();
    full_cycle(&emu, &p, 17);
    let cfg = emu.sdk_config().await;
    let cp = aws_sdk_codepipeline::Client::new(&cfg);
    let pipeline = cp.get_pipeline().name("provision-ci").send().await.unwrap().pipeline.unwrap();
    assert_eq!(pipeline.execution_mode().map(|m| m.as_str()), Some("QUEUED"));
    let stages: Vec<&str> = pipeline.stages().iter().map(|s| s.name()).collect();
    assert_eq!(stages, ["Source", "Plan", "Approval", "Apply"]);
    // Pull requests to main that touch the stacks start the read-only plan pipeline.
    let prs = cp.get_pipeline().name("provision-ci-pull-requests").send().await.unwrap().pipeline.unwrap();
    let git = prs.triggers()[0].git_configuration().unwrap();
    assert_eq!(git.source_action_name(), "Source");
    let filter = &git.pull_request()[0];
    assert_eq!(filter.events().iter().map(|e| e.as_str()).collect::<Vec<_>>(), ["OPEN", "UPDATED"]);
    assert_eq!(filter.branches().unwrap().includes(), ["main"]);
    assert_eq!(filter.file_paths().unwrap().includes(), ["stacks/**", "policies/**"]);
    let ev = aws_sdk_eventbridge::Client::new(&cfg);
    assert_eq!(ev.describe_rule().name("provision-ci-drift-daily").send().await.unwrap().schedule_expression(), Some("rate(1 day)"));
    let target = &ev.list_targets_by_rule().rule("provision-ci-drift-daily").send().await.unwrap().targets()[0].clone();
    assert!(target.arn().ends_with(":provision-ci-drift"), "{target:?}");
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("Plan: 17 to add, 0 to change, 0 to destroy.");
}

// ---------------------------------------------------------------------------------------------
// The buildspecs, executed as CodeBuild would run them (the emulator runs no builds): each
// phase's commands in order with the project's environment, in the source directory, stopping
// at the first failing command. The pinned download is replaced by PROVISION_INSTALL_FROM (the
// binary under test), and `aws sns publish` by a shim that publishes through the emulator.

const AWS_SHIM: &str = r#"#!/usr/bin/env bash
# aws sns publish --topic-arn ARN [--subject S] --message TEXT|file://PATH, through boto3.
exec "$EMULATOR_PYTHON" - "$@" <<'PY'
import os, sys, boto3
args = sys.argv[1:]
assert args[:2] == ["sns", "publish"], f"the aws shim only publishes to SNS, not {args}"
opts = dict(zip(args[2::2], args[3::2]))
msg = opts["--message"]
if msg.startswith("file://"):
    msg = open(msg[len("file://"):]).read()
sns = boto3.client("sns", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
kw = {"Subject": opts["--subject"]} if "--subject" in opts else {}
sns.publish(TopicArn=opts["--topic-arn"], Message=msg, **kw)
PY
"#;

struct Build {
    code: i32,
    log: String,
}

fn run_buildspec(emu: &Emulator, src: &std::path::Path, spec: &str, vars: &[(&str, &str)]) -> Build {
    let text = std::fs::read_to_string(src.join(spec)).unwrap();
    let doc: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(doc["version"].as_f64(), Some(0.2), "{spec}: buildspec version");
    let shell = doc["env"]["shell"].as_str().unwrap_or("sh").to_string();
    let tools = tempfile::tempdir().unwrap();
    let shim = tools.path().join("aws");
    std::fs::write(&shim, AWS_SHIM).unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for phase in ["install", "pre_build", "build", "post_build"] {
        for cmd in doc["phases"][phase]["commands"].as_array().into_iter().flatten() {
            let out = std::process::Command::new(&shell)
                .arg("-c")
                .arg(cmd.as_str().unwrap())
                .current_dir(src)
                .env_clear()
                .env("PATH", format!("{}:{}", tools.path().display(), std::env::var("PATH").unwrap_or_default()))
                .env("HOME", home.path())
                .env("CODEBUILD_SRC_DIR", src)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", common::REGION)
                .env("AWS_ENDPOINT_URL", &emu.url)
                .env("AWS_CONFIG_FILE", home.path().join("none"))
                .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("EMULATOR_PYTHON", repo_root().join(".venv/bin/python"))
                .env("PROVISION_INSTALL_FROM", env!("CARGO_BIN_EXE_provision"))
                .envs(vars.iter().copied())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            log.push_str(&String::from_utf8_lossy(&out.stdout));
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            let code = out.status.code().unwrap_or(-1);
            if code != 0 {
                return Build { code, log: format!("{log}\n[{phase} failed with {code}]") };
            }
        }
    }
    Build { code: 0, log }
}

fn publishes(emu: &Emulator) -> i64 {
    emu.calls()["by_operation"]["sns.Publish"].as_i64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn buildspecs_plan_apply_and_report_drift_as_codebuild_runs_them() {
    let emu = Emulator::start();
    let cfg = emu.sdk_config().await;
    let topic = aws_sdk_sns::Client::new(&cfg).create_topic().name("drift").send().await.unwrap().topic_arn.unwrap();
    // The repository CodeBuild checks out: a stack and the buildspecs.
    let src = Project::new("stack: app\nresources:\n  ecr_repository.app:\n    name: ci-app\n");
    std::fs::rename(src.path().join("stacks/test.yaml"), src.path().join("stacks/app.yaml")).unwrap();
    for spec in ["plan.yml", "apply.yml", "drift.yml"] {
        src.write(&format!("buildspecs/{spec}"), &std::fs::read_to_string(repo_root().join("examples/buildspecs").join(spec)).unwrap());
    }
    let vars = [("STACK", "stacks/app.yaml"), ("PROVISION_VERSION", "0.1.0"), ("DRIFT_TOPIC_ARN", topic.as_str())];

    // Plan: changes are reported, not a failure; plan.json and plan.txt go on in the artifact.
    let b = run_buildspec(&emu, src.path(), "buildspecs/plan.yml", &vars);
    assert_eq!(b.code, 0, "{}", b.log);
    assert!(b.log.contains("provision: the stack has changes to apply") && b.log.contains("Plan: 1 to add"), "{}", b.log);
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(src.path().join("plan.json")).unwrap()).unwrap();
    assert!(plan.to_string().contains("ci-app"), "{plan}");
    assert!(std::fs::read_to_string(src.path().join("plan.txt")).unwrap().contains("+ ecr_repository.app"));
    let md = std::fs::read_to_string(src.path().join("plan.md")).unwrap();
    assert!(md.contains("**Plan: 1 to add, 0 to change, 0 to destroy.**") && md.contains("| create | `ecr_repository.app` | ci-app |"), "{md}");
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(src.path().join("check.sarif")).unwrap()).unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    // The approved plan is what Apply carries out: had the stack moved since, it would refuse.
    let stack = std::fs::read_to_string(src.path().join("stacks/app.yaml")).unwrap();
    src.write("stacks/app.yaml", &stack.replace("ci-app", "ci-other"));
    let b = run_buildspec(&emu, src.path(), "buildspecs/apply.yml", &vars);
    assert_eq!(b.code, 1, "{}", b.log);
    assert!(b.log.contains("stacks/app.yaml") && !b.log.contains("created"), "{}", b.log);
    src.write("stacks/app.yaml", &stack);

    // Apply, then the drift check finds nothing and stays quiet.
    let b = run_buildspec(&emu, src.path(), "buildspecs/apply.yml", &vars);
    assert_eq!(b.code, 0, "{}", b.log);
    let ecr = aws_sdk_ecr::Client::new(&cfg);
    assert!(ecr.describe_repositories().repository_names("ci-app").send().await.is_ok());
    let b = run_buildspec(&emu, src.path(), "buildspecs/drift.yml", &vars);
    assert_eq!((b.code, publishes(&emu)), (0, 0), "{}", b.log);

    // Someone deletes the repository: the drift check publishes the plan to the topic.
    ecr.delete_repository().repository_name("ci-app").send().await.unwrap();
    let b = run_buildspec(&emu, src.path(), "buildspecs/drift.yml", &vars);
    assert_eq!((b.code, publishes(&emu)), (0, 1), "{}", b.log);

    // A plan that cannot run fails the build (and publishes nothing).
    let b = run_buildspec(&emu, src.path(), "buildspecs/drift.yml", &[("STACK", "stacks/missing.yaml"), ("DRIFT_TOPIC_ARN", topic.as_str())]);
    assert_eq!((b.code, publishes(&emu)), (1, 1), "{}", b.log);
    assert!(b.log.contains("cannot read stack file"), "{}", b.log);
}

// ---------------------------------------------------------------------------------------------
// provision whoami

#[test]
fn whoami_names_the_caller_and_the_environment_source_without_secrets() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYSECRETKEY";
    emu.provision_with_env(dir.path(), &["whoami"], &[("AWS_SECRET_ACCESS_KEY", secret)])
        .ok()
        .has(&format!("caller:      arn:aws:iam::{}:user/moto", common::ACCOUNT))
        .has(&format!("account:     {}", common::ACCOUNT))
        .has("credentials: environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) [EnvironmentVariable]")
        .has("region:      us-east-1")
        .lacks(secret);
}

#[tokio::test(flavor = "multi_thread")]
async fn whoami_names_profile_and_assumed_role_sources() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sts:AssumeRole"}}]}}"#,
        common::ACCOUNT
    );
    c.create_role().role_name("whoami-target").assume_role_policy_document(trust).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("no-aws-credentials"), "[ci]\naws_access_key_id = AKIDEXAMPLEPROFILE\naws_secret_access_key = profile-secret-value\n")
        .unwrap();
    std::fs::write(
        dir.path().join("no-aws-config"),
        format!(
            "[profile ci]\nregion = eu-west-1\n\n[profile deploy]\nrole_arn = arn:aws:iam::{}:role/whoami-target\nsource_profile = ci\nregion = us-east-1\n",
            common::ACCOUNT
        ),
    )
    .unwrap();
    let run = |profile: &str| {
        let mut cmd = emu.command(dir.path(), &["whoami", "--profile", profile]);
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").env_remove("AWS_REGION");
        common::Run::from(cmd.output().unwrap())
    };
    run("ci").ok().has("[ProfileFile]").has("profile:     ci").has("region:      eu-west-1").lacks("profile-secret-value");
    run("deploy").ok().has(&format!("caller:      arn:aws:sts::{}:assumed-role/whoami-target/", common::ACCOUNT)).has("[AssumeRoleProvider]");
    run("nope").code(1).has("help:");
}

// ---------------------------------------------------------------------------------------------
// Profiles with mfa_serial: the code from --mfa-code (or the terminal), the session cached 0600.

#[tokio::test(flavor = "multi_thread")]
async fn mfa_profile_assumes_the_role_with_the_code_and_reuses_the_cached_session() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let serial = format!("arn:aws:iam::{}:mfa/dev", common::ACCOUNT);
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"sts:AssumeRole","Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"true"}}}}}}]}}"#,
        common::ACCOUNT
    );
    c.create_role().role_name("mfa-admin").assume_role_policy_document(trust).send().await.unwrap();
    emu.admin("POST", "mfa", Some(serde_json::json!({"serial": serial, "code": "123456"})));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("no-aws-credentials"), "[base]\naws_access_key_id = AKIDEXAMPLEBASE\naws_secret_access_key = base-secret-value\n").unwrap();
    std::fs::write(
        dir.path().join("no-aws-config"),
        format!(
            "[profile admin]\nrole_arn = arn:aws:iam::{}:role/mfa-admin\nsource_profile = base\nmfa_serial = {serial}\nregion = us-east-1\n",
            common::ACCOUNT
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["whoami", "--profile", "admin"];
        args.extend_from_slice(extra);
        let mut cmd = emu.command(dir.path(), &args);
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
        common::Run::from(cmd.output().unwrap())
    };
    let assume_calls = || emu.calls()["by_operation"]["sts.AssumeRole"].as_i64().unwrap_or(0);

    // No terminal (stdin is not one here) and no code: a clear error, nothing called.
    run(&[]).code(1).has("there is no terminal to ask for the code").has("help: pass the current code with --mfa-code CODE");
    assert_eq!(assume_calls(), 0);
    // A wrong code is refused by STS.
    run(&["--mfa-code", "000000"]).code(1).has("MultiFactorAuthentication failed");
    // The right code: the role, with MFA; the session is cached owner-only.
    run(&["--mfa-code", "123456"])
        .ok()
        .has(&format!("caller:      arn:aws:sts::{}:assumed-role/mfa-admin/provision-", common::ACCOUNT))
        .has("[MfaAssumeRole]")
        .lacks("base-secret-value");
    let sessions: Vec<_> = std::fs::read_dir(dir.path().join(".provision/sessions")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(sessions.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&sessions[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let calls = assume_calls();
    // The next run asks nothing and assumes nothing: the cached session is used until it expires.
    run(&[]).ok().has("assumed-role/mfa-admin/").has("[MfaAssumeRole]");
    assert_eq!(assume_calls(), calls);

    // On a terminal (a pty from `script`), the code is asked for.
    std::fs::remove_dir_all(dir.path().join(".provision/sessions")).unwrap();
    let base = emu.command(dir.path(), &[]);
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &format!("{} whoami --profile admin", env!("CARGO_BIN_EXE_provision")), "/dev/null"]).current_dir(dir.path()).env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("script(1) from util-linux gives the run a terminal");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"123456\n").unwrap();
    let out = common::Run::from(child.wait_with_output().unwrap());
    out.ok().has(&format!("MFA code for {serial}:")).has("assumed-role/mfa-admin/").has("[MfaAssumeRole]");
    assert_eq!(assume_calls(), calls + 1);
}

/// Static keys and `mfa_serial`, no role: GetSessionToken with the code gives the same user a
/// session with MFA present (what `aws:MultiFactorAuthPresent` policies require), cached like a
/// role session.
#[tokio::test(flavor = "multi_thread")]
async fn mfa_profile_without_a_role_gets_a_session_token_with_the_code() {
    let emu = Emulator::start();
    let serial = format!("arn:aws:iam::{}:mfa/me", common::ACCOUNT);
    emu.admin("POST", "mfa", Some(serde_json::json!({"serial": serial, "code": "654321"})));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("no-aws-credentials"), "[me]\naws_access_key_id = AKIDEXAMPLEME\naws_secret_access_key = my-secret-value\n").unwrap();
    std::fs::write(dir.path().join("no-aws-config"), format!("[profile me]\nmfa_serial = {serial}\nregion = us-east-1\n")).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["whoami", "--profile", "me"];
        args.extend_from_slice(extra);
        let mut cmd = emu.command(dir.path(), &args);
        cmd.env_remove("AWS_ACCESS_KEY_ID").env_remove("AWS_SECRET_ACCESS_KEY");
        common::Run::from(cmd.output().unwrap())
    };
    let session_calls = || emu.calls()["by_operation"]["sts.GetSessionToken"].as_i64().unwrap_or(0);
    run(&[]).code(1).has("profile `me` makes an MFA session").has("--mfa-code");
    run(&["--mfa-code", "000000"]).code(1).has("GetSessionToken failed").has("MultiFactorAuthentication failed");
    run(&["--mfa-code", "654321"])
        .ok()
        .has(&format!("caller:      arn:aws:iam::{}:user/moto", common::ACCOUNT))
        .has("[MfaSessionToken]")
        .lacks("my-secret-value");
    assert_eq!(session_calls(), 2);
    run(&[]).ok().has("[MfaSessionToken]");
    assert_eq!(session_calls(), 2, "the cached session is reused");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_pattern_is_compared_by_meaning() {
    let emu = Emulator::start();
    let stack = |detail: &str| {
        format!(
            "stack: rules\nresources:\n  events_rule.failed:\n    name: pipeline-failed\n    event_pattern:\n      source: [aws.codepipeline]\n      detail-type: [CodePipeline Pipeline Execution State Change]\n      detail: {{ state: [{detail}] }}\n"
        )
    };
    let p = Project::new(&stack("FAILED"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let ev = aws_sdk_eventbridge::Client::new(&emu.sdk_config().await);
    let pattern: Value = serde_json::from_str(ev.describe_rule().name("pipeline-failed").send().await.unwrap().event_pattern().unwrap()).unwrap();
    assert_eq!(pattern["detail"]["state"], serde_json::json!(["FAILED"]));
    // The same pattern with its keys in another order is no change.
    p.write_stack(
        "stack: rules\nresources:\n  events_rule.failed:\n    name: pipeline-failed\n    event_pattern:\n      detail: { state: [FAILED] }\n      detail-type: [CodePipeline Pipeline Execution State Change]\n      source: [aws.codepipeline]\n",
    );
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
    p.write_stack(&stack("FAILED, STOPPED"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has("~ event_pattern.detail");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
}
