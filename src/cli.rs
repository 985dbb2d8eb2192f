//! The command line: `provision validate | plan | apply | destroy`, and the one error reporter.

use crate::aws::{self, Aws};
use crate::engine::plan::{self, Mode, Plan};
use crate::engine::{apply, Ctx};
use crate::render::{self, Progress, Style};
use crate::stack::{self, Stack};
use crate::Error;
use clap::{Args, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "provision", version, about = "Plan, apply and destroy the AWS CodePipeline -> EKS CI/CD stack")]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// Stack file (default: the only file in stacks/)
    #[arg(short, long, global = true, value_name = "FILE")]
    stack: Option<PathBuf>,
    /// AWS region (default: the stack's `region`, then the AWS configuration)
    #[arg(long, global = true)]
    region: Option<String>,
    /// Named AWS profile from ~/.aws/config
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Send every AWS call to this endpoint (e.g. the local emulator); AWS_ENDPOINT_URL and
    /// AWS_ENDPOINT_URL_<SERVICE> are honoured too
    #[arg(long, global = true, value_name = "URL")]
    endpoint_url: Option<String>,
    /// Plain output (also: NO_COLOR set, or output not a terminal)
    #[arg(long, global = true)]
    no_color: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the stack and policy files without calling AWS
    Validate,
    /// Show what apply would change
    Plan {
        /// Exit 0 when there are no changes, 2 when there are, 1 on error
        #[arg(long)]
        detailed_exitcode: bool,
        /// Print the plan as JSON
        #[arg(long)]
        json: bool,
    },
    /// Make the account match the stack
    Apply {
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
    },
    /// Delete what the stack owns, and nothing else
    Destroy {
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = !cli.global.no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    let style = Style { color };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli, style)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e, Style { color: color && std::io::stderr().is_terminal() });
            ExitCode::from(1)
        }
    }
}

/// The one place errors become text: what, where, and `help:` with the next step.
pub fn report(e: &Error, style: Style) {
    let mut err = std::io::stderr().lock();
    match e {
        Error::Stack(d) => {
            let _ = writeln!(err, "{d}");
        }
        other => {
            let _ = writeln!(err, "{} {other}", style.red("error:"));
            if let Some(h) = other.help() {
                let _ = writeln!(err, "{} {h}", style.bold("help:"));
            }
        }
    }
}

async fn run(cli: Cli, style: Style) -> crate::Result<u8> {
    let path = choose_stack(cli.global.stack.as_deref(), Path::new("stacks"))?;
    let stack = stack::load(&path)?;
    if let Command::Validate = cli.command {
        println!("{}: stack `{}` is valid ({} resources)", path.display(), stack.name, stack.resources.len());
        return Ok(0);
    }
    let opts = aws::Options {
        region: cli.global.region.clone().or_else(|| stack.region.clone()),
        profile: cli.global.profile.clone(),
        endpoint_url: cli.global.endpoint_url.clone(),
    };
    let ctx = Ctx::connect(Arc::new(Aws::load(&opts).await), &stack).await?;
    match cli.command {
        Command::Validate => unreachable!("handled above"),
        Command::Plan { detailed_exitcode, json } => {
            let p = plan::plan(&ctx, &stack, Mode::Apply).await?;
            if json {
                println!("{}", render::json::render(&p));
            } else {
                print!("{}", render::human::render(&p, style));
            }
            Ok(if detailed_exitcode && p.has_changes() { 2 } else { 0 })
        }
        Command::Apply { auto_approve } => {
            let p = plan::plan(&ctx, &stack, Mode::Apply).await?;
            print!("{}", render::human::render(&p, style));
            if let Some(s) = p.unowned().next() {
                return Err(Error::user(
                    format!("{} ({}) exists but is not owned by stack `{}`; refusing to apply", s.address, s.name, stack.name),
                    format!("adopt it by tagging it `{}={}`, rename it in the stack, or remove it from the stack", crate::resources::OWNER_TAG, stack.name),
                ));
            }
            execute(&ctx, &stack, &p, auto_approve, style, "apply").await
        }
        Command::Destroy { auto_approve } => {
            let p = plan::plan(&ctx, &stack, Mode::Destroy).await?;
            print!("{}", render::human::render(&p, style));
            execute(&ctx, &stack, &p, auto_approve, style, "destroy").await
        }
    }
}

async fn execute(ctx: &Ctx, stack: &Stack, p: &Plan, auto_approve: bool, style: Style, verb: &str) -> crate::Result<u8> {
    if !p.has_changes() {
        return Ok(0);
    }
    if !auto_approve {
        confirm(verb)?;
    }
    let progress = Progress { style };
    let outcome = apply::apply(ctx, stack, p, &progress).await;
    let c = p.counts();
    if outcome.ok() {
        let done = match p.mode {
            Mode::Apply => format!("Apply complete! Resources: {} added, {} changed, {} destroyed.", c.add, c.change, c.destroy),
            Mode::Destroy => format!("Destroy complete! Resources: {} destroyed.", c.destroy),
        };
        println!("\n{}", style.green(&done));
        return Ok(0);
    }
    for (a, e) in &outcome.failed {
        report(&Error::user(format!("{a}: {e}"), e.help().unwrap_or("fix the cause and run again; completed steps are not repeated")), style);
    }
    let finished = outcome.done.iter().filter(|(_, a)| *a != plan::Action::NoOp).count();
    let mut msg = if outcome.interrupted {
        format!("{verb} interrupted: {finished} step(s) completed, {} failed", outcome.failed.len())
    } else {
        format!("{verb} failed: {} step(s) failed, {finished} completed", outcome.failed.len())
    };
    if !outcome.not_started.is_empty() {
        let names: Vec<String> = outcome.not_started.iter().map(|a| a.to_string()).collect();
        msg.push_str(&format!(", not started: {}", names.join(", ")));
    }
    if !outcome.skipped.is_empty() {
        let names: Vec<String> = outcome.skipped.iter().map(|a| a.to_string()).collect();
        msg.push_str(&format!(", skipped (they depend on a failed step): {}", names.join(", ")));
    }
    let next = if outcome.interrupted { "run" } else { "fix the error and run" };
    Err(Error::user(msg, format!("every step either completed or did not start; {next} `provision {verb}` again to finish")))
}

fn confirm(verb: &str) -> crate::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::user(
            format!("refusing to {verb} without confirmation: there is no terminal to ask"),
            format!("review the plan above and pass --auto-approve to `provision {verb}`"),
        ));
    }
    print!("\nDo you want to {verb} these changes? Only 'yes' will be accepted: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| Error::user(format!("cannot read the answer: {e}"), "pass --auto-approve"))?;
    if answer.trim() != "yes" {
        return Err(Error::user(format!("{verb} cancelled"), "nothing was changed"));
    }
    Ok(())
}

/// `-s FILE`, or the only stack in `stacks/`.
pub fn choose_stack(given: Option<&Path>, dir: &Path) -> crate::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::user(
            format!("no stack file given and none found in {}/", dir.display()),
            "pass -s/--stack FILE",
        )),
        _ => Err(Error::user(
            format!("no stack file given and {}/ holds several", dir.display()),
            format!(
                "pass one with -s/--stack: {}",
                found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}
