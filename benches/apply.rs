//! `make bench`: what the seed stack and a 100-fold copy of it (1,300 resources) cost, in AWS calls
//! and wall time, with the emulator adding 50 ms to every call (like a real region's round trip),
//! side by side in one run. A no-op plan's reads should grow with the number of services and
//! pages, not with the number of resources. Where `terraform` and its AWS provider are installed,
//! an equivalent Terraform configuration of the seed runs against the same emulator too.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Emulator, Project};
use std::time::{Duration, Instant};

const LATENCY_MS: u64 = 50;
const COPIES: usize = 100;

/// One measured run: AWS calls (the emulator's count), wall time, and the emulator's CPU.
#[derive(Clone, Copy)]
struct Cost {
    calls: u64,
    wall: Duration,
    emulator_cpu: Duration,
}

fn cost(emu: &Emulator, wall: Duration) -> Cost {
    let calls = emu.calls();
    Cost { calls: calls["total"].as_u64().unwrap_or(0), wall, emulator_cpu: Duration::from_millis(calls["cpu_ms"].as_u64().unwrap_or(0)) }
}

fn measure(emu: &Emulator, p: &Project, args: &[&str]) -> Cost {
    measure_code(emu, p, args, 0)
}

fn measure_code(emu: &Emulator, p: &Project, args: &[&str], code: i32) -> Cost {
    emu.reset_calls();
    let t = Instant::now();
    emu.provision(p.path(), args).code(code);
    cost(emu, t.elapsed())
}

/// The seed's addresses, whose names get a copy number.
const ADDRESSES: [&str; 13] = [
    "ecr_repository.app",
    "s3_bucket.artifacts",
    "codestar_connection.github",
    "sns_topic.approval",
    "iam_role.kubectl",
    "iam_policy.sts_assume_kubectl",
    "iam_role.pipeline",
    "iam_role.build",
    "iam_role.deploy",
    "codebuild_project.build",
    "codebuild_project.deploy",
    "codepipeline.main",
    "eks_aws_auth_role.kubectl",
];

/// Copy `i` of a piece of the seed: addresses, resource names and policy files made distinct.
fn renumber(text: &str, i: usize) -> String {
    let mut t = text.to_string();
    for a in ADDRESSES {
        t = t.replace(&format!("  {a}:\n"), &format!("  {a}_{i}:\n")).replace(&format!("${{{a}."), &format!("${{{a}_{i}."));
    }
    t.replace("eks-devops", &format!("eks-devops-{i}"))
        .replace("EksCodeBuildKubectlRole", &format!("EksCodeBuildKubectlRole{i}"))
        .replace("eks-codebuild-sts-assume-role", &format!("eks-codebuild-sts-assume-role-{i}"))
        .replace(".json }", &format!("-{i}.json }}"))
}

/// The seed stack, 100 times over with distinct names (1,300 resources, one cluster).
fn big_project() -> Project {
    let p = Project::seed("eks-devops.yaml");
    let seed = std::fs::read_to_string(common::repo_root().join("stacks/eks-devops.yaml")).unwrap();
    let (head, body) = seed.split_once("resources:\n").expect("the seed has resources");
    let mut yaml = format!("{}resources:\n", head.replace("stack: eks-devops", "stack: bench-big"));
    for i in 0..COPIES {
        yaml.push_str(&renumber(body, i));
        for e in std::fs::read_dir(common::repo_root().join("policies")).unwrap() {
            let path = e.unwrap().path();
            let stem = path.file_stem().unwrap().to_string_lossy().to_string();
            p.write(&format!("policies/{stem}-{i}.json"), &renumber(&std::fs::read_to_string(&path).unwrap(), i));
        }
    }
    p.write_stack(&yaml);
    p
}

fn row(name: &str, a: Option<Cost>, b: Option<Cost>) {
    let cell = |c: Option<Cost>| c.map(|c| format!("{:>7} {:>8.2}s", c.calls, c.wall.as_secs_f64())).unwrap_or_else(|| format!("{:>17}", "-"));
    println!("{name:<16} {} {}", cell(a), cell(b));
}

fn main() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth", "--latency-ms", &LATENCY_MS.to_string()]);
    let seed = Project::seed("eks-devops.yaml");
    let big = big_project();
    let apply = ["apply", "--auto-approve"];
    let plan = ["plan", "--detailed-exitcode"];
    let destroy = ["destroy", "--auto-approve"];

    let seed_first_plan = measure_code(&emu, &seed, &plan, 2);
    let seed_apply = measure(&emu, &seed, &apply);
    let seed_plan = measure(&emu, &seed, &plan);
    let seed_destroy = measure(&emu, &seed, &destroy);
    let big_apply = measure(&emu, &big, &apply);
    let big_plan = measure(&emu, &big, &plan);
    let big_plan_ops = emu.calls()["by_operation"].as_object().cloned().unwrap_or_default();
    let big_destroy = measure(&emu, &big, &destroy);

    println!("\n{LATENCY_MS} ms per AWS call; calls counted by the emulator\n");
    println!("{:<16} {:>17} {:>17}", "", "seed (13)", format!("{} copies ({})", COPIES, COPIES * 13));
    println!("{:<16} {:>7} {:>9} {:>7} {:>9}", "phase", "calls", "wall", "calls", "wall");
    row("apply", Some(seed_apply), Some(big_apply));
    row("no-op plan", Some(seed_plan), Some(big_plan));
    row("destroy", Some(seed_destroy), Some(big_destroy));
    let ratio = big_plan.wall.as_secs_f64() / seed_plan.wall.as_secs_f64();
    println!(
        "\nno-op plan, {} resources / seed: {ratio:.2}x wall time (target <= 3x), {:.1}x calls",
        COPIES * 13,
        big_plan.calls as f64 / seed_plan.calls as f64
    );

    let mut ops: Vec<(String, u64)> = big_plan_ops.into_iter().map(|(k, v)| (k, v.as_u64().unwrap_or(0))).collect();
    ops.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = ops.iter().take(8).map(|(k, v)| format!("{k} {v}")).collect();
    println!("calls of that plan by operation: {}", top.join(", "));
    println!(
        "the emulator's CPU in those plans (it serves one call at a time): seed {} ms, {} resources {} ms",
        seed_plan.emulator_cpu.as_millis(),
        COPIES * 13,
        big_plan.emulator_cpu.as_millis()
    );

    match terraform::available() {
        Err(why) => println!("\nTerraform: skipped ({why})"),
        Ok(tf) => match tf.run(&emu) {
            Ok(t) => {
                println!("\nThe seed with Terraform (AWS provider from /opt/tf-plugins) against the same emulator:\n");
                println!("{:<16} {:>17} {:>17} {:>7}", "phase", "provision", "terraform", "ratio");
                for (name, ours, theirs) in [
                    ("first plan", seed_first_plan, t.plan),
                    ("apply", seed_apply, t.apply),
                    ("no-op plan", seed_plan, t.noop),
                    ("destroy", seed_destroy, t.destroy),
                ] {
                    let cell = |c: Cost| format!("{:>7} {:>8.2}s", c.calls, c.wall.as_secs_f64());
                    println!("{name:<16} {} {} {:>6.1}x", cell(ours), cell(theirs), theirs.wall.as_secs_f64() / ours.wall.as_secs_f64());
                }
            }
            Err(e) => println!("\nTerraform: failed against the emulator: {e}"),
        },
    }
}

/// The seed as Terraform configuration (benches/seed.tf), run with the provider from the machine's
/// filesystem mirror: nothing is downloaded.
mod terraform {
    use super::{Cost, Emulator};
    use std::path::Path;
    use std::process::Command;
    use std::time::Instant;

    const MIRROR: &str = "/opt/tf-plugins";

    pub struct Terraform {
        dir: tempfile::TempDir,
    }

    pub struct Costs {
        pub plan: Cost,
        pub apply: Cost,
        pub noop: Cost,
        pub destroy: Cost,
    }

    pub fn available() -> Result<Terraform, String> {
        let version = Command::new("terraform").arg("version").output().map_err(|_| "no `terraform` on PATH".to_string())?;
        if !version.status.success() {
            return Err("`terraform version` failed".into());
        }
        if !Path::new(MIRROR).join("registry.terraform.io/hashicorp/aws/5.100.0").is_dir() {
            return Err(format!("the AWS provider 5.100.0 is not in {MIRROR}"));
        }
        let tf = Terraform { dir: tempfile::tempdir().map_err(|e| e.to_string())? };
        let root = crate::common::repo_root();
        std::fs::copy(root.join("benches/seed.tf"), tf.dir.path().join("main.tf")).map_err(|e| e.to_string())?;
        std::fs::create_dir(tf.dir.path().join("policies")).map_err(|e| e.to_string())?;
        for e in std::fs::read_dir(root.join("policies")).map_err(|e| e.to_string())? {
            let e = e.map_err(|e| e.to_string())?;
            std::fs::copy(e.path(), tf.dir.path().join("policies").join(e.file_name())).map_err(|e| e.to_string())?;
        }
        let rc = format!("provider_installation {{\n  filesystem_mirror {{ path = \"{MIRROR}\" }}\n}}\n");
        std::fs::write(tf.dir.path().join("tf.rc"), rc).map_err(|e| e.to_string())?;
        tf.run_code(&["init", "-input=false", "-no-color"], 0).map_err(|e| format!("terraform init: {e}"))?;
        Ok(tf)
    }

    impl Terraform {
        fn run_code(&self, args: &[&str], code: i32) -> Result<(), String> {
            let out = Command::new("terraform")
                .args(args)
                .current_dir(self.dir.path())
                .env("TF_CLI_CONFIG_FILE", self.dir.path().join("tf.rc"))
                .env("TF_IN_AUTOMATION", "1")
                .output()
                .map_err(|e| e.to_string())?;
            match out.status.code() {
                Some(c) if c == code => Ok(()),
                c => Err(format!(
                    "`terraform {}` exited {c:?}\n{}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                )),
            }
        }

        fn measure(&self, emu: &Emulator, args: &[&str], code: i32) -> Result<Cost, String> {
            let endpoint = format!("endpoint={}", emu.url);
            let mut all = args.to_vec();
            all.extend(["-input=false", "-no-color", "-var", &endpoint]);
            emu.reset_calls();
            let t = Instant::now();
            self.run_code(&all, code)?;
            Ok(super::cost(emu, t.elapsed()))
        }

        /// First plan, apply, no-op plan and destroy, as a user runs them.
        pub fn run(&self, emu: &Emulator) -> Result<Costs, String> {
            Ok(Costs {
                plan: self.measure(emu, &["plan", "-detailed-exitcode"], 2)?,
                apply: self.measure(emu, &["apply", "-auto-approve"], 0)?,
                noop: self.measure(emu, &["plan", "-detailed-exitcode"], 0)?,
                destroy: self.measure(emu, &["destroy", "-auto-approve"], 0)?,
            })
        }
    }
}
