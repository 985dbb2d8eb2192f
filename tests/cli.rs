//! The command line itself: variables from flags and the environment (and the plan saying so),
//! shell completions and the man page.

mod common;

use common::{Emulator, Project, Run};
use std::process::Command;

const STACK: &str = "stack: clitest\nvars:\n  repo: from-file\nresources:\n  ecr_repository.app:\n    name: ${var.repo}\n";

#[test]
fn variables_come_from_the_file_the_environment_or_the_flag_and_the_plan_says_which() {
    let emu = Emulator::start();
    let p = Project::new(STACK);
    emu.provision(p.path(), &["plan"]).ok().has("+ ecr_repository.app (from-file) will be created").lacks("var.repo is set by");

    emu.provision_with_env(p.path(), &["plan"], &[("PROVISION_VAR_repo", "from-env")])
        .ok()
        .has("+ ecr_repository.app (from-env) will be created")
        .has("var.repo is set by PROVISION_VAR_repo");

    // The flag wins over the environment.
    emu.provision_with_env(p.path(), &["plan", "--var", "repo=from-flag"], &[("PROVISION_VAR_repo", "from-env")])
        .ok()
        .has("+ ecr_repository.app (from-flag) will be created")
        .has("var.repo is set by --var")
        .lacks("from-env");
}

#[test]
fn a_var_flag_without_a_value_is_refused() {
    let emu = Emulator::start();
    let p = Project::new(STACK);
    emu.provision(p.path(), &["plan", "--var", "repo"]).code(1).has("`--var repo` has no value").has("help: write `--var NAME=VALUE`");
}

fn provision(args: &[&str]) -> Run {
    Run::from(Command::new(env!("CARGO_BIN_EXE_provision")).args(args).output().expect("run provision"))
}

#[test]
fn completions_are_generated_for_each_shell() {
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef provision"), ("fish", "complete -c provision"), ("powershell", "Register-ArgumentCompleter")]
    {
        let r = provision(&["completions", shell]);
        r.ok().has(marker).has("apply").has("destroy").has("detailed-exitcode");
    }
    provision(&["completions", "tcsh"]).code(1).has("invalid value 'tcsh'");
}

#[test]
fn the_man_page_documents_the_commands() {
    provision(&["man"]).ok().has(".TH provision 1").has("apply").has("\\-\\-stack");
}
