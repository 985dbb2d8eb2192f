//! Apply progress on a terminal (a pty from `script`, rendered by a terminal emulator): steps in
//! flight are spinners saying what they wait for, and when it is over the screen holds only the
//! permanent lines. `TERM=dumb` gets the plain lines of a log.

mod common;

use common::{Emulator, Project};
use std::process::{Command, Output, Stdio};

const STACK: &str = r#"stack: live
settings: { iam_propagation_timeout_seconds: 60 }
resources:
  iam_role.build:
    name: live-build-role
    trust_policy:
      Version: "2012-10-17"
      Statement: [{ Effect: Allow, Principal: { Service: codebuild.amazonaws.com }, Action: sts:AssumeRole }]
  codebuild_project.build:
    name: live-build
    service_role: ${iam_role.build.arn}
    buildspec: buildspec.yml
    environment: { image: aws/codebuild/standard:7.0 }
"#;

const ROWS: u16 = 200;
const COLS: u16 = 160;

/// `provision ARGS` on a terminal of ROWS x COLS.
fn on_a_terminal(emu: &Emulator, p: &Project, args: &str, term: &str) -> Output {
    let base = emu.command(p.path(), &[]);
    let mut cmd = Command::new("script");
    let line = format!("stty rows {ROWS} cols {COLS} && exec {} {args}", env!("CARGO_BIN_EXE_provision"));
    cmd.args(["-qec", &line, "/dev/null"]).current_dir(p.path()).env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let out = cmd.env("TERM", term).stdin(Stdio::null()).output().expect("script(1) from util-linux gives the run a terminal");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    out
}

/// What the terminal shows once the bytes are drawn.
fn screen(out: &Output) -> String {
    let size = |n| std::num::NonZero::new(n).expect("a size");
    let mut term = vt100::Parser::new(size(ROWS), size(COLS), 0);
    term.process(&out.stdout);
    term.screen().contents()
}

#[test]
fn on_a_terminal_steps_in_flight_are_spinners_and_only_finished_lines_stay() {
    let emu = Emulator::start();
    let p = Project::new(STACK);
    // CodeBuild refuses the fresh role a few times (seconds of retries): the wait is visible.
    emu.fault("codebuild", "CreateProject", "not_authorized", 4);
    let out = on_a_terminal(&emu, &p, "apply --auto-approve --ignore-check", "xterm");
    let drawn = String::from_utf8_lossy(&out.stdout);
    assert!(drawn.contains("codebuild_project.build: creating... [1s]"), "no spinner with its elapsed time: {drawn}");
    assert!(drawn.contains("waiting for IAM propagation of role arn:aws:iam::123456789012:role/live-build-role"), "{drawn}");

    let shown = screen(&out);
    assert!(shown.contains("iam_role.build: created after"), "{shown}");
    assert!(shown.contains("codebuild_project.build: created after"), "{shown}");
    assert!(shown.contains("Apply complete! Resources: 2 added, 0 changed, 0 destroyed."), "{shown}");
    assert!(!shown.contains("creating...") && !shown.contains("waiting for"), "the live area was left on the screen:\n{shown}");

    // A terminal that cannot redraw gets the lines a log gets.
    let shown = screen(&on_a_terminal(&emu, &p, "destroy --auto-approve", "dumb"));
    assert!(shown.contains("codebuild_project.build: destroying...\n"), "{shown}");
    assert!(shown.contains("codebuild_project.build: destroyed after"), "{shown}");
    assert!(shown.contains("Destroy complete! Resources: 2 destroyed."), "{shown}");
}
