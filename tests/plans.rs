//! Reviewed plans and the workflow around them: saved plans (`plan -out`, `apply FILE`, `show`),
//! `plan --destroy`, lifecycle guards, `-target`/`-exclude`, `adopt`, `graph`, `output`,
//! `validate --json`.

mod common;

use common::{Emulator, Project, ACCOUNT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codebuild.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Two roles, `a` and `b`, with the given descriptions.
fn two_roles(stack: &str, a: &str, b: &str) -> String {
    format!(
        r#"stack: {stack}
resources:
  iam_role.a:
    name: {stack}-a
    description: {a}
    trust_policy: {{ file: policies/trust.json }}
  iam_role.b:
    name: {stack}-b
    description: {b}
    trust_policy: {{ file: policies/trust.json }}
"#
    )
}

fn project(yaml: &str) -> Project {
    let p = Project::new(yaml);
    p.write("policies/trust.json", TRUST);
    p
}

async fn iam(emu: &Emulator) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&emu.sdk_config().await)
}

async fn description(c: &aws_sdk_iam::Client, role: &str) -> Option<String> {
    c.get_role().role_name(role).send().await.ok()?.role()?.description().map(str::to_string)
}

async fn meddle(c: &aws_sdk_iam::Client, role: &str) {
    c.update_role_description().role_name(role).description("meddled").send().await.unwrap();
}

fn addresses(plan_json: &str) -> BTreeSet<String> {
    let doc: Value = serde_json::from_str(plan_json).expect("plan --json is JSON");
    doc["plan"]["steps"].as_array().unwrap().iter().map(|s| s["address"].as_str().unwrap().to_string()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Applied, then the stack changes `a`'s description: a saved plan that updates `a` only.
async fn saved_update(emu: &Emulator, p: &Project) -> String {
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    p.write_stack(&two_roles("plans", "first v2", "second"));
    emu.provision(p.path(), &["plan", "-out", "update.plan"]).ok().has("iam_role.a (plans-a) will be updated in place").has("Saved the plan to update.plan");
    p.path().join("update.plan").display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_private_shown_and_applied_exactly() {
    let emu = Emulator::start();
    let p = project(&two_roles("plans", "first", "second"));
    emu.provision(p.path(), &["plan", "-out", "create.plan"]).ok().has("Plan: 2 to add");
    let file = p.path().join("create.plan");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["format_version"], 1);
    assert_eq!(saved["account_id"], ACCOUNT);
    assert_eq!(saved["steps"][0]["address"], "iam_role.a");
    assert!(saved["steps"][0].get("live").is_none(), "live states are not written, only fingerprints");

    emu.provision(p.path(), &["show", "create.plan"]).ok().has("+ iam_role.a (plans-a) will be created").has("Plan: 2 to add");
    let shown = emu.provision(p.path(), &["show", "create.plan", "--json"]);
    assert_eq!(addresses(shown.ok().stdout.as_str()), set(&["iam_role.a", "iam_role.b"]));

    // No question asked: the file is the approval (stdin is not a terminal here).
    emu.provision(p.path(), &["apply", "create.plan"]).ok().has("Apply complete! Resources: 2 added");
    assert_eq!(description(&iam(&emu).await, "plans-a").await.as_deref(), Some("first"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).ok().has("No changes.");

    let mut broken = p.path().join("broken.plan");
    std::fs::write(&broken, r#"{"format_version": 99}"#).unwrap();
    emu.provision(p.path(), &["apply", "broken.plan"]).code(1).has("is a plan of format 99");
    broken.set_extension("txt");
    std::fs::write(&broken, "not json").unwrap();
    emu.provision(p.path(), &["show", "broken.txt"]).code(1).has("is not a saved plan");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_refused_when_a_resource_it_changes_was_changed_since() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = project(&two_roles("plans", "first", "second"));
    let file = saved_update(&emu, &p).await;
    meddle(&c, "plans-a").await;
    emu.reset_calls();
    emu.provision(p.path(), &["apply", &file])
        .code(1)
        .has("the saved plan no longer applies")
        .has("iam_role.a (plans-a) was changed outside provision")
        .has("help: nothing was changed")
        .lacks("updating");
    assert_eq!(emu.write_calls(), Vec::<String>::new());
    assert_eq!(description(&c, "plans-a").await.as_deref(), Some("meddled"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_runs_when_only_an_untouched_resource_changed() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = project(&two_roles("plans", "first", "second"));
    let file = saved_update(&emu, &p).await;
    meddle(&c, "plans-b").await;
    emu.provision(p.path(), &["apply", &file]).ok().has("Apply complete! Resources: 0 added, 1 changed");
    assert_eq!(description(&c, "plans-a").await.as_deref(), Some("first v2"));
    // Exactly the plan: the drift of `b`, which it did not show, is left for the next plan.
    assert_eq!(description(&c, "plans-b").await.as_deref(), Some("meddled"));
    emu.provision(p.path(), &["plan"]).ok().has("iam_role.b (plans-b) will be updated in place");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_refused_when_the_stack_file_or_the_region_differs() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = project(&two_roles("plans", "first", "second"));
    emu.provision(p.path(), &["plan", "-out", "create.plan"]).ok();
    emu.provision_with_env(p.path(), &["apply", "create.plan"], &[("AWS_REGION", "eu-west-1")])
        .code(1)
        .has("it was made for region us-east-1, and this run is in region eu-west-1");
    p.write_stack(&(two_roles("plans", "first", "second") + "# a comment is a change too\n"));
    emu.provision(p.path(), &["apply", "create.plan"]).code(1).has("the stack file or a file it includes changed since the plan was made");
    p.write_stack(&two_roles("plans", "first", "second"));
    p.write("policies/trust.json", &TRUST.replace("codebuild", "codepipeline"));
    emu.provision(p.path(), &["apply", "create.plan"]).code(1).has("the stack file or a file it includes changed");
    assert!(c.get_role().role_name("plans-a").send().await.is_err(), "nothing was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_destroy_previews_and_a_saved_destroy_plan_destroys() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = project(&two_roles("plans", "first", "second"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--destroy"]).ok().has("provision destroy plan").has("- iam_role.a (plans-a) will be destroyed").has("2 to destroy");
    assert!(c.get_role().role_name("plans-a").send().await.is_ok(), "a preview deletes nothing");
    emu.provision(p.path(), &["plan", "-destroy", "-out", "destroy.plan"]).ok();
    emu.provision(p.path(), &["apply", "destroy.plan"]).ok().has("Destroy complete! Resources: 2 destroyed.");
    assert!(c.get_role().role_name("plans-a").send().await.is_err());
    assert!(c.get_role().role_name("plans-b").send().await.is_err());
}

const GUARDED: &str = r#"stack: guards
resources:
  iam_role.kept:
    name: NAME
    trust_policy: { file: policies/trust.json }
    lifecycle: { protect: true }
  iam_role.loose:
    name: guards-loose
    description: as declared
    trust_policy: { file: policies/trust.json }
    lifecycle: { ignore_changes: [description] }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_guards_protect_and_ignore_changes() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = project(&GUARDED.replace("NAME", "guards-kept"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();

    // ignore_changes: drift in that field is read but not a change.
    meddle(&c, "guards-loose").await;
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).ok().has("No changes.");

    // protect: a rename is a replace, refused with where it is declared and how to lift it.
    p.write_stack(&GUARDED.replace("NAME", "guards-renamed"));
    emu.provision(p.path(), &["plan"])
        .code(1)
        .has("iam_role.kept is protected (`lifecycle: { protect: true }`) and this plan would replace it")
        .has("stacks/test.yaml:3:")
        .has("remove `protect: true`");
    p.write_stack(&GUARDED.replace("NAME", "guards-kept"));
    emu.provision(p.path(), &["destroy", "--auto-approve"]).code(1).has("iam_role.kept is protected").has("would delete it");
    assert!(c.get_role().role_name("guards-kept").send().await.is_ok());
    assert!(c.get_role().role_name("guards-loose").send().await.is_ok(), "a refused plan deletes nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn target_and_exclude_on_the_seed_stack() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let p = Project::seed("eks-devops.yaml");
    let plan = |args: &[&str]| {
        let mut all = vec!["plan", "--json"];
        all.extend_from_slice(args);
        let r = emu.provision(p.path(), &all);
        addresses(r.ok().stdout.as_str())
    };
    assert_eq!(plan(&["-target", "codebuild_project.build"]), set(&["ecr_repository.app", "s3_bucket.artifacts", "iam_role.build", "codebuild_project.build"]));
    assert_eq!(
        plan(&["-target", "iam_policy.sts_assume_kubectl", "-target", "sns_topic.approval"]),
        set(&["iam_role.kubectl", "iam_policy.sts_assume_kubectl", "sns_topic.approval"])
    );
    assert_eq!(
        plan(&["-exclude", "iam_role.kubectl"]),
        set(&[
            "ecr_repository.app",
            "s3_bucket.artifacts",
            "codestar_connection.github",
            "sns_topic.approval",
            "iam_role.pipeline",
            "iam_role.build",
            "codebuild_project.build"
        ])
    );
    emu.provision(p.path(), &["plan", "-target", "codebuild_project.build"]).ok().has("this plan is partial: only codebuild_project.build");
    emu.provision(p.path(), &["plan", "-target", "iam_role.nope"])
        .code(1)
        .has("`-target iam_role.nope`: stack `eks-devops` declares no such resource")
        .has("the stack declares: ecr_repository.app, s3_bucket.artifacts");

    // A targeted apply creates just that; a targeted destroy takes what depends on the target.
    emu.provision(p.path(), &["apply", "-target", "iam_role.build", "--auto-approve"]).ok().has("Apply complete! Resources: 2 added");
    emu.provision(p.path(), &["plan"]).ok().has("Plan: 11 to add, 0 to change, 0 to destroy.");
    assert_eq!(plan(&["--destroy", "-target", "s3_bucket.artifacts"]), set(&["s3_bucket.artifacts", "iam_role.build"]));
    assert_eq!(plan(&["--destroy", "-exclude", "iam_role.build"]), BTreeSet::new(), "the role needs the bucket");
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_tags_an_untagged_role_after_showing_it_matches() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    c.create_role().role_name("adopt-a").assume_role_policy_document(TRUST).description("made by hand").send().await.unwrap();
    let p = project(
        r#"stack: adopt
resources:
  iam_role.a:
    name: adopt-a
    description: made by hand
    trust_policy: { file: policies/trust.json }
"#,
    );
    emu.provision(p.path(), &["plan"])
        .ok()
        .has("! iam_role.a (adopt-a) exists but is not this stack's")
        .has("`provision adopt iam_role.a` shows the differences");
    emu.provision(p.path(), &["plan", "-out", "x.plan"]).code(1).has("a saved plan is not written while apply would refuse it");
    assert!(!p.path().join("x.plan").exists());
    emu.provision(p.path(), &["adopt", "iam_role.a"]).code(1).has("refusing to adopt without confirmation");
    emu.provision(p.path(), &["adopt", "iam_role.a", "--auto-approve"]).ok().has("It matches the stack").has("iam_role.a is now stack `adopt`'s.");
    let tags: Vec<(String, String)> =
        c.list_role_tags().role_name("adopt-a").send().await.unwrap().tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
    assert!(tags.contains(&("provision:stack".into(), "adopt".into())), "{tags:?}");
    assert!(tags.contains(&("provision:address".into(), "iam_role.a".into())), "{tags:?}");
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).ok().has("No changes.");
    emu.provision(p.path(), &["adopt", "iam_role.a", "--auto-approve"]).code(1).has("is already stack `adopt`'s");
}

#[tokio::test(flavor = "multi_thread")]
async fn adopt_from_another_stack_needs_from_stack_and_shows_the_differences() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let tag = |k: &str, v: &str| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().unwrap();
    c.create_role().role_name("adopt-b").assume_role_policy_document(TRUST).tags(tag("provision:stack", "other")).send().await.unwrap();
    let p = project(
        r#"stack: adopt
resources:
  iam_role.b:
    name: adopt-b
    description: ours now
    trust_policy: { file: policies/trust.json }
"#,
    );
    emu.provision(p.path(), &["adopt", "iam_role.b", "--auto-approve"])
        .code(1)
        .has("iam_role.b (adopt-b) belongs to stack `other`")
        .has("provision adopt iam_role.b --from-stack other");
    emu.provision(p.path(), &["adopt", "iam_role.b", "--from-stack", "third", "--auto-approve"]).code(1).has("belongs to stack `other`, not `third`");
    emu.provision(p.path(), &["adopt", "iam_role.nope"]).code(1).has("the stack declares: iam_role.b");
    emu.provision(p.path(), &["adopt", "iam_role.b", "--from-stack", "other", "--auto-approve"])
        .ok()
        .has("It differs from the stack")
        .has("+ description: \"ours now\"");
    emu.provision(p.path(), &["plan"]).ok().has("~ iam_role.b (adopt-b) will be updated in place").lacks("not this stack's");
}

/// `provision` run without an emulator: commands that make no AWS call.
fn offline(dir: &Path, args: &[&str]) -> common::Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .output()
        .expect("run provision");
    common::Run::from(out)
}

/// The seed stack's addresses and references, as declared.
const SEED_NODES: usize = 13;

#[test]
fn graph_prints_parseable_dot_and_mermaid() {
    let p = Project::seed("eks-devops.yaml");
    let dot = offline(p.path(), &["graph"]).ok().stdout.clone();
    let lines: Vec<&str> = dot.lines().map(str::trim).collect();
    assert!(lines[0].starts_with("digraph \"eks-devops\" {"), "{dot}");
    assert_eq!(*lines.last().unwrap(), "}");
    let quoted = |l: &str| l.split('"').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>();
    let nodes: BTreeSet<String> = lines.iter().filter(|l| l.starts_with('"') && !l.contains("->")).map(|l| quoted(l)[0].clone()).collect();
    assert_eq!(nodes.len(), SEED_NODES, "{dot}");
    let edges: Vec<Vec<String>> = lines.iter().filter(|l| l.contains(" -> ")).map(|l| quoted(l)).collect();
    assert!(edges.iter().all(|e| e.len() == 2 && nodes.contains(&e[0]) && nodes.contains(&e[1])), "{dot}");
    assert!(edges.contains(&vec!["iam_role.build".to_string(), "codebuild_project.build".to_string()]), "{dot}");
    assert!(edges.contains(&vec!["codebuild_project.deploy".to_string(), "codepipeline.main".to_string()]), "{dot}");
    // Balanced braces and quotes: what a DOT parser needs first.
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    assert!(lines.iter().all(|l| l.matches('"').count() % 2 == 0));

    let m = offline(p.path(), &["graph", "--format", "mermaid"]).ok().stdout.clone();
    let mut ml = m.lines();
    assert_eq!(ml.next(), Some("flowchart LR"));
    let mut ids = BTreeSet::new();
    let mut arrows = 0;
    for l in ml.map(str::trim) {
        if let Some((id, rest)) = l.split_once("[\"") {
            assert!(rest.ends_with("\"]") && id.starts_with('n') && id[1..].parse::<usize>().is_ok(), "bad node line {l:?}");
            ids.insert(id.to_string());
        } else if let Some((a, b)) = l.split_once(" --> ") {
            assert!(ids.contains(a) && ids.contains(b), "edge {l:?} joins undeclared nodes");
            arrows += 1;
        } else {
            panic!("unexpected Mermaid line {l:?}");
        }
    }
    assert_eq!(ids.len(), SEED_NODES);
    assert_eq!(arrows, edges.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_with_a_plan_colours_nodes_by_action() {
    let emu = Emulator::start();
    let p = project(&two_roles("graph", "first", "second"));
    let r = emu.provision(p.path(), &["graph", "--format", "mermaid", "--plan"]);
    r.ok().has("n0[\"iam_role.a<br/>(create)\"]").has("classDef create fill:").has("class n0,n1 create");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["graph", "--plan"]).ok().has("\"iam_role.a\" [label=\"iam_role.a\\n(unchanged)\"");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_prints_attributes_of_applied_resources() {
    let emu = Emulator::start();
    let p = project(
        r#"stack: out
resources:
  ecr_repository.app:
    name: out-app
  iam_role.a:
    name: out-a
    trust_policy: { file: policies/trust.json }
"#,
    );
    emu.provision(p.path(), &["output", "ecr_repository.app.uri"]).code(1).has("ecr_repository.app does not exist yet").has("run `provision apply` first");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let uri = emu.provision(p.path(), &["output", "ecr_repository.app.uri"]);
    assert_eq!(uri.ok().stdout, format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/out-app\n"));
    let all = emu.provision(p.path(), &["output", "--json"]);
    let doc: Value = serde_json::from_str(&all.ok().stdout).unwrap();
    assert_eq!(doc["iam_role.a"]["arn"], format!("arn:aws:iam::{ACCOUNT}:role/out-a"));
    assert_eq!(doc["ecr_repository.app"]["name"], "out-app");
    emu.provision(p.path(), &["output"]).ok().has("iam_role.a.arn = arn:aws:iam::");
    emu.provision(p.path(), &["output", "ecr_repository.app.url"]).code(1).has("`ecr_repository` has no attribute `url`").has("ecr_repository.app.uri");
    emu.provision(p.path(), &["output", "ecr_repository.nope.uri"]).code(1).has("the stack declares: ecr_repository.app, iam_role.a");
}

#[test]
fn validate_json_reports_diagnostics() {
    let p = project(&two_roles("v", "first", "second"));
    let ok = offline(p.path(), &["validate", "--json"]);
    let doc: Value = serde_json::from_str(&ok.ok().stdout).unwrap();
    assert_eq!((doc["valid"].as_bool(), doc["error_count"].as_u64()), (Some(true), Some(0)));

    p.write_stack(&two_roles("v", "first", "second").replace("    description: second\n", "    descripton: second\n    max_session_duration: 1\n"));
    let bad = offline(p.path(), &["validate", "--json"]);
    let doc: Value = serde_json::from_str(&bad.code(1).stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["error_count"], 2, "{doc:#}");
    let d = &doc["diagnostics"][0];
    assert!(d["file"].as_str().unwrap().ends_with("stacks/test.yaml"), "{d}");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(9), Some(5)), "{d}");
    assert!(d["message"].as_str().unwrap().contains("descripton"), "{d}");
    assert!(d["help"].as_str().is_some_and(|h| !h.is_empty()), "{d}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_is_refused_when_a_variable_resolves_differently() {
    let emu = Emulator::start();
    let c = iam(&emu).await;
    let p = project(&format!("vars: {{ what: first }}\n{}", two_roles("plans", "${var.what}", "second")));
    emu.provision(p.path(), &["plan", "-out", "create.plan"]).ok();
    emu.provision(p.path(), &["apply", "create.plan", "--var", "what=other"])
        .code(1)
        .has("iam_role.a (plans-a) resolves to other values (a `--var` or PROVISION_VAR_ value differs?)");
    assert!(c.get_role().role_name("plans-a").send().await.is_err(), "nothing was created");
    emu.provision(p.path(), &["apply", "create.plan"]).ok().has("Apply complete! Resources: 2 added");
    assert_eq!(description(&c, "plans-a").await.as_deref(), Some("first"));
}
