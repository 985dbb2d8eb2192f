//! S3 artifact bucket, SNS approval topic and the GitHub connection against the emulator.

mod common;

use common::{Emulator, Project};

fn bucket_stack(versioning: bool, block: bool, force: bool, team: &str) -> String {
    format!(
        "stack: svc\nresources:\n  s3_bucket.artifacts:\n    name: svc-artifacts-${{account_id}}\n    encryption: AES256\n    block_public_access: {block}\n    versioning: {versioning}\n    force_destroy: {force}\n    tags: {{ team: {team} }}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bucket_lifecycle_and_force_destroy() {
    let emu = Emulator::start();
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&emu.sdk_config().await).force_path_style(true).build());
    let name = format!("svc-artifacts-{}", common::ACCOUNT);
    let p = Project::new(&bucket_stack(true, true, false, "a"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(2).has(&format!("+ s3_bucket.artifacts ({name}) will be created"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let v = s3.get_bucket_versioning().bucket(&name).send().await.unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Enabled"));
    let tags = s3.get_bucket_tagging().bucket(&name).send().await.unwrap();
    assert!(tags.tag_set().iter().any(|t| t.key() == "provision:stack" && t.value() == "svc"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    p.write_stack(&bucket_stack(false, false, false, "b"));
    emu.provision(p.path(), &["plan"]).ok().has("~ versioning: true -> false").has("~ block_public_access: true -> false").has("~ tags.team: \"a\" -> \"b\"");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");
    let v = s3.get_bucket_versioning().bucket(&name).send().await.unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Suspended"));

    // Objects in several versions: destroy refuses without force_destroy...
    p.write_stack(&bucket_stack(true, true, false, "b"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    for body in ["one", "two", "three"] {
        s3.put_object().bucket(&name).key("artifact.zip").body(body.as_bytes().to_vec().into()).send().await.unwrap();
    }
    emu.provision(p.path(), &["destroy", "--auto-approve"]).code(1).has("force_destroy: true");
    assert!(s3.head_bucket().bucket(&name).send().await.is_ok());
    // ...and empties every version first with it.
    p.write_stack(&bucket_stack(true, true, true, "b"));
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok().has("Destroy complete!");
    assert!(s3.head_bucket().bucket(&name).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn unowned_bucket_is_left_alone() {
    let emu = Emulator::start();
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&emu.sdk_config().await).force_path_style(true).build());
    let name = format!("svc-artifacts-{}", common::ACCOUNT);
    s3.create_bucket().bucket(&name).send().await.unwrap();
    let p = Project::new(&bucket_stack(true, true, true, "a"));
    emu.provision(p.path(), &["plan"]).ok().has("exists but is not this stack's");
    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1);
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
    assert!(s3.head_bucket().bucket(&name).send().await.is_ok());
}

fn topic_stack(display: &str, subs: &[(&str, &str)]) -> String {
    let subs: String = subs.iter().map(|(p, e)| format!("      - {{ protocol: {p}, endpoint: \"{e}\" }}\n")).collect();
    format!("stack: svc\nvars:\n  email: ops@example.com\nresources:\n  sns_topic.approval:\n    name: svc-topic\n    display_name: {display}\n    subscriptions:\n{subs}")
}

#[tokio::test(flavor = "multi_thread")]
async fn topic_with_pending_email_subscription() {
    let emu = Emulator::start();
    let sns = aws_sdk_sns::Client::new(&emu.sdk_config().await);
    let arn = format!("arn:aws:sns:us-east-1:{}:svc-topic", common::ACCOUNT);
    let p = Project::new(&topic_stack("approvals", &[("email", "${var.email}")]));
    emu.provision(p.path(), &["plan"]).ok().has("a confirmation e-mail goes to ops@example.com");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().has("a confirmation e-mail goes to ops@example.com");
    // Pending is shown, and is not drift.
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.").has("subscription email:ops@example.com is pending confirmation");
    emu.admin("POST", "sns/confirm", Some(serde_json::json!({"topic_arn": arn, "endpoint": "ops@example.com"})));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).lacks("pending confirmation");

    // Display name and subscriptions change in place.
    p.write_stack(&topic_stack("Approvals", &[("email", "${var.email}"), ("https", "https://hooks.example.com/approve")]));
    emu.provision(p.path(), &["plan"]).ok().has("~ display_name: \"approvals\" -> \"Approvals\"").has("~ subscriptions:");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
    p.write_stack(&topic_stack("Approvals", &[("https", "https://hooks.example.com/approve")]));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let subs = sns.list_subscriptions_by_topic().topic_arn(&arn).send().await.unwrap();
    let endpoints: Vec<&str> = subs.subscriptions().iter().filter_map(|s| s.endpoint()).collect();
    assert_eq!(endpoints, vec!["https://hooks.example.com/approve"]);
    let attrs = sns.get_topic_attributes().topic_arn(&arn).send().await.unwrap().attributes.unwrap();
    assert_eq!(attrs.get("DisplayName").map(String::as_str), Some("Approvals"));

    // A still-pending subscription never blocks destroy.
    p.write_stack(&topic_stack("Approvals", &[("email", "late@example.com")]));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(sns.get_topic_attributes().topic_arn(&arn).send().await.is_err());
}

fn connection_stack(provider: &str, team: &str) -> String {
    format!("stack: svc\nresources:\n  codestar_connection.github:\n    name: svc-github\n    provider_type: {provider}\n    tags: {{ team: {team} }}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_pending_update_replace_destroy() {
    let emu = Emulator::start();
    let cs = aws_sdk_codestarconnections::Client::new(&emu.sdk_config().await);
    let p = Project::new(&connection_stack("GitHub", "a"));
    emu.provision(p.path(), &["plan"]).ok().has("Update pending connection");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().has("connection is PENDING");
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.").has("connection is PENDING");
    let list = cs.list_connections().send().await.unwrap();
    let arn = list.connections()[0].connection_arn().unwrap().to_string();
    emu.admin("POST", &format!("connections/{}/status", urlencode(&arn)), Some(serde_json::json!({"status": "AVAILABLE"})));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).lacks("PENDING").has("connection status: AVAILABLE");

    p.write_stack(&connection_stack("GitHub", "b"));
    emu.provision(p.path(), &["plan"]).ok().has("~ tags.team: \"a\" -> \"b\"");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);

    // The provider is fixed at creation: replace. The new connection has a new ARN.
    p.write_stack(&connection_stack("Bitbucket", "b"));
    emu.provision(p.path(), &["plan"])
        .ok()
        .has("-/+ codestar_connection.github (svc-github) must be replaced")
        .has("reason: `provider_type` cannot change in place");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok().has("replaced after");
    let list = cs.list_connections().send().await.unwrap();
    assert_eq!(list.connections().len(), 1);
    assert_eq!(list.connections()[0].provider_type().map(|p| p.as_str()), Some("Bitbucket"));
    assert_ne!(list.connections()[0].connection_arn(), Some(arn.as_str()));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(cs.list_connections().send().await.unwrap().connections().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_identified_by_name_and_owner_tag() {
    let emu = Emulator::start();
    let cs = aws_sdk_codestarconnections::Client::new(&emu.sdk_config().await);
    let tag = |v: &str| aws_sdk_codestarconnections::types::Tag::builder().key("provision:stack").value(v).build().unwrap();
    // Someone else's connection of the same name is not ours...
    cs.create_connection().connection_name("svc-github").provider_type("GitHub".into()).tags(tag("other")).send().await.unwrap();
    let p = Project::new(&connection_stack("GitHub", "a"));
    emu.provision(p.path(), &["plan"]).ok().has("belongs to stack `other`");
    // ...two of ours is never a dead end: the one created first stays, the other is cleaned up.
    let early = aws_sdk_codestarconnections::types::Tag::builder().key("provision:created").value("2026-01-01T00:00:00Z").build().unwrap();
    let late = aws_sdk_codestarconnections::types::Tag::builder().key("provision:created").value("2026-01-02T00:00:00Z").build().unwrap();
    let keep =
        cs.create_connection().connection_name("svc-github").provider_type("GitHub".into()).tags(tag("svc")).tags(early).send().await.unwrap().connection_arn;
    cs.create_connection().connection_name("svc-github").provider_type("GitHub".into()).tags(tag("svc")).tags(late).send().await.unwrap();
    emu.provision(p.path(), &["plan"]).ok().has(&format!("(a duplicate: {keep} stays)")).has("1 to destroy");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let ours: Vec<String> = cs.list_connections().send().await.unwrap().connections().iter().filter_map(|c| c.connection_arn().map(str::to_string)).collect();
    assert_eq!(ours.len(), 2, "the other stack's connection and the one kept: {ours:?}");
    assert!(ours.contains(&keep));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn unowned_topic_is_left_alone() {
    let emu = Emulator::start();
    let sns = aws_sdk_sns::Client::new(&emu.sdk_config().await);
    sns.create_topic().name("svc-topic").attributes("DisplayName", "theirs").send().await.unwrap();
    let p = Project::new(&topic_stack("ours", &[("email", "a@example.com")]));
    emu.provision(p.path(), &["plan"]).ok().has("! sns_topic.approval (svc-topic) exists but is not this stack's");
    emu.reset_calls();
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1);
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(emu.write_calls().is_empty(), "{:?}", emu.write_calls());
}
