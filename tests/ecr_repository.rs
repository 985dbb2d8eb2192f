//! The vertical slice end to end: an ECR repository through plan -> apply -> plan -> update ->
//! replace -> destroy against the emulator, plus the refusal to touch what is not the stack's.

mod common;

use common::{Emulator, Project};
use std::collections::HashMap;

fn stack(name: &str, mutability: &str, scan: bool, extra_tags: &str) -> String {
    format!(
        "stack: demo\nresources:\n  ecr_repository.app:\n    name: {name}\n    image_tag_mutability: {mutability}\n    scan_on_push: {scan}\n    tags: {{ team: platform{extra_tags} }}\n"
    )
}

async fn ecr(emu: &Emulator) -> aws_sdk_ecr::Client {
    aws_sdk_ecr::Client::new(&emu.sdk_config().await)
}

async fn describe(c: &aws_sdk_ecr::Client, name: &str) -> Option<(String, bool, HashMap<String, String>)> {
    let out = c.describe_repositories().repository_names(name).send().await.ok()?;
    let r = out.repositories?.into_iter().next()?;
    let tags = c.list_tags_for_resource().resource_arn(r.repository_arn()?).send().await.ok()?.tags.unwrap_or_default();
    Some((r.image_tag_mutability()?.as_str().to_string(), r.image_scanning_configuration()?.scan_on_push, tags.into_iter().map(|t| (t.key, t.value)).collect()))
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_create_noop_update_replace_destroy() {
    let emu = Emulator::start();
    let c = ecr(&emu).await;
    let p = Project::new(&stack("demo-app", "IMMUTABLE", true, ""));

    let r = emu.provision(p.path(), &["plan", "--detailed-exitcode"]);
    r.code(2)
        .has("+ ecr_repository.app (demo-app) will be created")
        .has("image_tag_mutability: \"IMMUTABLE\"")
        .has("Plan: 1 to add, 0 to change, 0 to destroy.");
    assert!(describe(&c, "demo-app").await.is_none(), "plan must not create anything");

    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().has("ecr_repository.app: created after").has("Apply complete!");
    let (m, scan, tags) = describe(&c, "demo-app").await.expect("created");
    assert_eq!((m.as_str(), scan), ("IMMUTABLE", true));
    assert_eq!(tags.get("provision:stack").map(String::as_str), Some("demo"), "ownership tag set at creation");
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));

    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // In-place update of every mutable field.
    p.write_stack(&stack("demo-app", "MUTABLE", false, ", env: prod"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("~ ecr_repository.app (demo-app) will be updated in place")
        .has("~ image_tag_mutability: \"IMMUTABLE\" -> \"MUTABLE\"")
        .has("~ scan_on_push: true -> false")
        .has("+ tags.env: \"prod\"")
        .has("Plan: 0 to add, 1 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().has("updated after");
    let (m, scan, tags) = describe(&c, "demo-app").await.expect("still there");
    assert_eq!((m.as_str(), scan), ("MUTABLE", false));
    assert_eq!(tags.get("env").map(String::as_str), Some("prod"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // A tag removed from the stack is removed from AWS.
    p.write_stack(&stack("demo-app", "MUTABLE", false, ""));
    emu.provision(p.path(), &["plan"]).ok().has("- tags.env: \"prod\"");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert!(!describe(&c, "demo-app").await.unwrap().2.contains_key("env"));

    // Encryption is fixed at creation: a change is a replace, with the reason, carried out.
    let kms = format!("{}\n    encryption: KMS\n", stack("demo-app", "MUTABLE", false, "").trim_end());
    p.write_stack(&kms);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("-/+ ecr_repository.app (demo-app) must be replaced")
        .has("reason: `encryption` cannot change in place")
        .has("Plan: 1 to add, 0 to change, 1 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().has("replaced after");
    let enc = c.describe_repositories().repository_names("demo-app").send().await.unwrap().repositories.unwrap()[0]
        .encryption_configuration()
        .map(|e| e.encryption_type().as_str().to_string());
    assert_eq!(enc.as_deref(), Some("KMS"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    // Destroy removes it; a second destroy has nothing to do.
    emu.provision(p.path(), &["destroy", "--auto-approve"])
        .ok()
        .has("- ecr_repository.app (demo-app) will be destroyed")
        .has("Destroy complete! Resources: 1 destroyed.");
    assert!(describe(&c, "demo-app").await.is_none());
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok().has("No changes.");
}

#[tokio::test(flavor = "multi_thread")]
async fn unowned_repository_is_reported_and_never_touched() {
    let emu = Emulator::start();
    let c = ecr(&emu).await;
    c.create_repository().repository_name("shared-repo").send().await.unwrap();
    c.create_repository()
        .repository_name("other-repo")
        .tags(aws_sdk_ecr::types::Tag::builder().key("provision:stack").value("someone-else").build().unwrap())
        .send()
        .await
        .unwrap();
    let p = Project::new(
        "stack: demo\nresources:\n  ecr_repository.a:\n    name: shared-repo\n    image_tag_mutability: IMMUTABLE\n  ecr_repository.b:\n    name: other-repo\n",
    );
    emu.provision(p.path(), &["plan"])
        .ok()
        .has("! ecr_repository.a (shared-repo) exists but is not this stack's: it has no `provision:stack` tag")
        .has("! ecr_repository.b (other-repo) exists but is not this stack's: it belongs to stack `someone-else`")
        .has("to adopt it, add the tag `provision:stack=demo`")
        .has("2 resources exist but are not owned by this stack");

    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1).has("refusing to apply").has("help:");
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok().has("it will not be deleted");
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "nothing may be written to resources the stack does not own");
    let (m, _, tags) = describe(&c, "shared-repo").await.expect("still there");
    assert_eq!(m, "MUTABLE", "left exactly as it was");
    assert!(!tags.contains_key("provision:stack"));

    // Adoption is explicit: once the user tags it, the stack manages it.
    let arn = format!("arn:aws:ecr:us-east-1:{}:repository/shared-repo", common::ACCOUNT);
    c.tag_resource().resource_arn(arn).tags(aws_sdk_ecr::types::Tag::builder().key("provision:stack").value("demo").build().unwrap()).send().await.unwrap();
    emu.provision(p.path(), &["plan"]).ok().has("~ ecr_repository.a (shared-repo) will be updated in place");
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmation_is_required_without_a_terminal() {
    let emu = Emulator::start();
    let p = Project::new(&stack("confirm-app", "IMMUTABLE", true, ""));
    emu.reset_calls();
    emu.provision(p.path(), &["apply"]).code(1).has("refusing to apply without confirmation").has("--auto-approve");
    assert!(emu.write_calls().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn repository_with_images_needs_force_destroy() {
    let emu = Emulator::start();
    let c = ecr(&emu).await;
    let p = Project::new("stack: demo\nresources:\n  ecr_repository.app:\n    name: images-app\n");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let manifest = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":7023,"digest":"sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"},"layers":[]}"#;
    c.put_image().repository_name("images-app").image_manifest(manifest).image_tag("v1").send().await.unwrap();

    emu.provision(p.path(), &["destroy", "--auto-approve"]).code(1).has("force_destroy: true");
    assert!(describe(&c, "images-app").await.is_some(), "a refused delete leaves the repository");

    p.write_stack("stack: demo\nresources:\n  ecr_repository.app:\n    name: images-app\n    force_destroy: true\n");
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(describe(&c, "images-app").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_is_retried_and_json_plan_is_machine_readable() {
    let emu = Emulator::start();
    let p = Project::new(&stack("json-app", "IMMUTABLE", true, ""));
    emu.fault("ecr", "DescribeRepositories", "throttle", 2);
    let r = emu.provision(p.path(), &["plan", "--json"]);
    r.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan --json prints JSON");
    assert_eq!(v["summary"]["add"], 1);
    assert_eq!(v["plan"]["steps"][0]["action"], "create");
    assert_eq!(v["plan"]["steps"][0]["address"], "ecr_repository.app");
    assert_eq!(emu.calls()["by_operation"]["ecr.DescribeRepositories"], 3, "two throttled attempts, then success");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_apply_finishes_what_is_in_flight_and_says_what_is_left() {
    let emu = Emulator::start();
    let p = Project::new(
        "stack: demo\nresources:\n  ecr_repository.a:\n    name: chain-a\n  ecr_repository.b:\n    name: chain-b\n    tags: { after: \"${ecr_repository.a.name}\" }\n  ecr_repository.c:\n    name: chain-c\n    tags: { after: \"${ecr_repository.b.name}\" }\n",
    );
    emu.admin("POST", "latency", Some(serde_json::json!({"ms": 700})));
    let child = emu.command(p.path(), &["apply", "--auto-approve"]).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    // Interrupt while the first create is on the wire.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while emu.calls()["by_operation"]["ecr.CreateRepository"].as_u64().unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "apply never started creating");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let r = common::Run::from(child.wait_with_output().unwrap());
    r.code(130)
        .has("interrupted: finishing the steps in progress")
        .has("ecr_repository.a: created after")
        .has("not started: ecr_repository.b, ecr_repository.c")
        .lacks("ecr_repository.b: creating");
    emu.admin("POST", "latency", Some(serde_json::json!({"ms": 0})));
    // Nothing half-done: the next plan sees what exists and finishes the job.
    emu.provision(p.path(), &["plan"]).ok().has("Plan: 2 to add, 0 to change, 0 to destroy.");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
}
