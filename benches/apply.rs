//! `make bench`: what parallelism buys. The emulator adds a fixed latency to every AWS call (like a
//! real region's round trip); the same stack of independent resources is planned, applied and
//! destroyed with `parallelism: 1` and with `parallelism: 8`, side by side in one run, and the
//! ratios are printed. Cost should follow round trips on the critical path, not resource count.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{Emulator, Project};
use std::time::{Duration, Instant};

const RESOURCES: usize = 16;
const LATENCY_MS: &str = "50";

fn stack(parallelism: usize, prefix: &str) -> String {
    let mut s = format!("stack: bench-{prefix}\nsettings:\n  parallelism: {parallelism}\nresources:\n");
    for i in 0..RESOURCES {
        s.push_str(&format!("  ecr_repository.r{i}:\n    name: {prefix}-repo-{i}\n    image_tag_mutability: IMMUTABLE\n    scan_on_push: true\n"));
    }
    s
}

fn timed(emu: &Emulator, p: &Project, args: &[&str]) -> Duration {
    let t = Instant::now();
    emu.provision(p.path(), args).ok();
    t.elapsed()
}

fn main() {
    let emu = Emulator::start_with(&["--latency-ms", LATENCY_MS]);
    println!("{RESOURCES} independent ECR repositories, {LATENCY_MS} ms per AWS call\n");
    println!("{:<10} {:>14} {:>14} {:>8}", "phase", "parallelism 1", "parallelism 8", "ratio");
    let serial = Project::new(&stack(1, "serial"));
    let parallel = Project::new(&stack(8, "parallel"));
    for (phase, args) in
        [("plan", &["plan"][..]), ("apply", &["apply", "--auto-approve"][..]), ("replan", &["plan"][..]), ("destroy", &["destroy", "--auto-approve"][..])]
    {
        let a = timed(&emu, &serial, args);
        let b = timed(&emu, &parallel, args);
        println!("{:<10} {:>13.2}s {:>13.2}s {:>7.1}x", phase, a.as_secs_f64(), b.as_secs_f64(), a.as_secs_f64() / b.as_secs_f64());
    }
}
