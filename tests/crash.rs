//! An apply killed at any instant is finished by the next apply, and two applies of one stack
//! started together converge: no orphan, no duplicate, no wedged stack.

mod common;

use common::{Emulator, Project};
use std::time::Instant;

const STACK: &str = "eks-devops";
const CONNECTION: &str = "eks-devops-github-connection";
const ROLES: [&str; 4] = [
    "EksCodeBuildKubectlRole",
    "eks-devops-codepipeline-service-role",
    "buildphase-codebuild-eks-devops-service-role",
    "deployphase-codebuild-eks-devops-service-role",
];

fn seed_emulator() -> Emulator {
    Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"])
}

fn latency(emu: &Emulator, ms: u64) {
    emu.admin("POST", "latency", Some(serde_json::json!({ "ms": ms })));
}

/// Everything of the seed stack in the account: by ownership tag (Tagging API, IAM) and by the
/// seed's names whatever their tags, so a half-made untagged resource is counted too.
async fn leftovers(emu: &Emulator) -> Vec<String> {
    let conf = emu.sdk_config().await;
    let mut out = Vec::new();
    let tagging = aws_sdk_resourcegroupstagging::Client::new(&conf);
    let filter = aws_sdk_resourcegroupstagging::types::TagFilter::builder().key("provision:stack").values(STACK).build();
    let tagged = tagging.get_resources().tag_filters(filter).send().await.unwrap();
    out.extend(tagged.resource_tag_mapping_list().iter().filter_map(|m| m.resource_arn().map(|a| format!("tagged {a}"))));

    let iam = aws_sdk_iam::Client::new(&conf);
    for r in ROLES {
        if iam.get_role().role_name(r).send().await.is_ok() {
            out.push(format!("role {r}"));
        }
    }
    let local = iam.list_policies().scope(aws_sdk_iam::types::PolicyScopeType::Local).send().await.unwrap();
    out.extend(local.policies().iter().filter_map(|p| p.arn().map(|a| format!("policy {a}"))));

    if aws_sdk_ecr::Client::new(&conf).describe_repositories().repository_names("eks-devops").send().await.is_ok() {
        out.push("ecr eks-devops".into());
    }
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&conf).force_path_style(true).build());
    out.extend(s3.list_buckets().send().await.unwrap().buckets().iter().filter_map(|b| b.name().map(|n| format!("bucket {n}"))));
    let sns = aws_sdk_sns::Client::new(&conf);
    out.extend(sns.list_topics().send().await.unwrap().topics().iter().filter_map(|t| t.topic_arn().map(|a| format!("topic {a}"))));
    out.extend((0..connections(emu).await).map(|_| format!("connection {CONNECTION}")));
    let cb = aws_sdk_codebuild::Client::new(&conf);
    let projects = cb.batch_get_projects().names("build-eks-devops").names("deploy-eks-devops").send().await.unwrap();
    out.extend(projects.projects().iter().filter_map(|p| p.name().map(|n| format!("project {n}"))));
    if aws_sdk_codepipeline::Client::new(&conf).get_pipeline().name("eks-devops").send().await.is_ok() {
        out.push("pipeline eks-devops".into());
    }
    let eks = aws_sdk_eks::Client::new(&conf);
    out.extend(eks.list_access_entries().cluster_name("eksdemo1").send().await.unwrap().access_entries().iter().map(|a| format!("access entry {a}")));
    if map_roles(emu).contains("EksCodeBuildKubectlRole") {
        out.push("aws-auth entry EksCodeBuildKubectlRole".into());
    }
    out
}

fn map_roles(emu: &Emulator) -> String {
    emu.admin("GET", "kube/kube-system/configmaps/aws-auth", None)["data"]["mapRoles"].as_str().unwrap_or_default().to_string()
}

/// How many GitHub connections carry the seed's name.
async fn connections(emu: &Emulator) -> usize {
    let cs = aws_sdk_codestarconnections::Client::new(&emu.sdk_config().await);
    cs.list_connections().send().await.unwrap().connections().iter().filter(|c| c.connection_name() == Some(CONNECTION)).count()
}

/// SIGKILL `provision apply` of the seed stack at 20 instants spread over a full apply's run (60 ms
/// per AWS call); after each kill, apply finishes the job and plan says "No changes."; destroy then
/// leaves nothing. Latency is on only for the killed apply and its recovery, to keep this short.
#[tokio::test(flavor = "multi_thread")]
async fn an_apply_killed_at_any_instant_is_finished_by_the_next_one() {
    const KILLS: u32 = 20;
    let emu = seed_emulator();
    let p = Project::seed("eks-devops.yaml");
    let apply = ["apply", "--auto-approve"];

    latency(&emu, 60);
    let t = Instant::now();
    emu.provision(p.path(), &apply).ok();
    let full = t.elapsed();
    latency(&emu, 0);
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(leftovers(&emu).await.is_empty());

    let (mut landed, mut clean, mut orphans, mut duplicates, mut failures) = (0, 0, 0, 0, Vec::new());
    // The instants are spread over the apply's measured run; a run that ends before its instant
    // (the machine got faster) was not killed: it shortens the estimate and the instant is retried.
    let mut full = full;
    let mut rounds = 0;
    while landed < KILLS && rounds < KILLS * 2 {
        rounds += 1;
        let i = landed + 1;
        let at = full * i / (KILLS + 1);
        latency(&emu, 60);
        let mut child = emu.command(p.path(), &apply).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let started = Instant::now();
        while started.elapsed() < at && child.try_wait().unwrap().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if child.try_wait().unwrap().is_some() {
            full = full.min(started.elapsed());
        } else {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            landed += 1;
        }

        let again = emu.provision(p.path(), &apply);
        latency(&emu, 0);
        let plan = emu.provision(p.path(), &["plan", "--detailed-exitcode"]);
        let dups = connections(&emu).await.saturating_sub(1);
        duplicates += dups;
        if again.code == 0 && plan.code == 0 && plan.stdout.contains("No changes.") && dups == 0 {
            clean += 1;
        } else {
            failures.push(format!(
                "kill {i} at {at:?}: apply again exited {}, plan exited {}, {dups} duplicate connections\n{}{}\n{}{}",
                again.code, plan.code, again.stdout, again.stderr, plan.stdout, plan.stderr
            ));
        }
        let destroy = emu.provision(p.path(), &["destroy", "--auto-approve"]);
        let left = leftovers(&emu).await;
        orphans += left.len();
        if destroy.code != 0 || !left.is_empty() {
            failures.push(format!("kill {i} at {at:?}: destroy exited {}, left {left:?}\n{}{}", destroy.code, destroy.stdout, destroy.stderr));
        }
    }
    eprintln!("crash test: an apply runs {full:?} at 60 ms/call (shortest seen); {landed} kills in {rounds} rounds, {clean} clean recoveries, {orphans} orphans, {duplicates} duplicates");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!((landed, clean, orphans, duplicates), (KILLS, rounds, 0, 0));
}

/// Two applies of one stack started at the same instant, ten rounds: both finish (but for an
/// emulator gap, see below), no duplicate is
/// left once a following apply has run (the duplicates right after the race are counted too), and
/// the stack is never wedged: plan, apply and destroy all work after the race.
#[tokio::test(flavor = "multi_thread")]
async fn two_applies_started_together_converge() {
    const ROUNDS: usize = 10;
    let emu = seed_emulator();
    let p = Project::seed("eks-devops.yaml");
    let apply = ["apply", "--auto-approve"];
    // A little latency widens the window between the two runs' reads and creates, as on AWS.
    latency(&emu, 20);
    let (mut racing_failures, mut dups_after_race, mut dups_left, mut wedged, mut failures) = (0, 0, 0, 0, Vec::new());
    for round in 1..=ROUNDS {
        let spawn = || emu.command(p.path(), &apply).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let (a, b) = (spawn(), spawn());
        for (name, child) in [("first", a), ("second", b)] {
            let run = common::Run::from(child.wait_with_output().unwrap());
            // Both succeed: a name taken by the other run (PipelineNameInUseException, ...) is
            // adopted and converged on.
            if run.code != 0 {
                racing_failures += 1;
                failures.push(format!("round {round}: the {name} racing apply exited {}\n{}{}", run.code, run.stdout, run.stderr));
            }
        }
        dups_after_race += connections(&emu).await.saturating_sub(1);

        let again = emu.provision(p.path(), &apply);
        let plan = emu.provision(p.path(), &["plan", "--detailed-exitcode"]);
        dups_left += connections(&emu).await.saturating_sub(1);
        let destroy = emu.provision(p.path(), &["destroy", "--auto-approve"]);
        let left = leftovers(&emu).await;
        if again.code != 0 || plan.code != 0 || destroy.code != 0 || !left.is_empty() {
            wedged += 1;
            failures.push(format!(
                "round {round}: after the race apply exited {}, plan {}, destroy {}, left {left:?}\n{}{}\n{}{}\n{}{}",
                again.code, plan.code, destroy.code, again.stdout, again.stderr, plan.stdout, plan.stderr, destroy.stdout, destroy.stderr
            ));
        }
    }
    eprintln!(
        "race test: {ROUNDS} rounds, {racing_failures} racing applies failed, {dups_after_race} duplicate connections right after the race, {dups_left} after a following apply, {wedged} wedged"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!((dups_left, wedged), (0, 0));
}
