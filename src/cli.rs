//! The command line: `provision validate | plan | apply | destroy`, and the one error reporter.

use crate::aws::{self, Aws};
use crate::contract::{Action, Ctx, Mode, Plan};
use crate::engine::{self, apply, plan};
use crate::render::{self, Style};
use crate::resources::Kinds;
use crate::stack::{self, Stack, VarOverride, VarSource};
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
    /// Set a stack variable (wins over the stack file and PROVISION_VAR_<NAME>)
    #[arg(long = "var", global = true, value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Plain output (also: NO_COLOR set, TERM=dumb, or output not a terminal; CLICOLOR_FORCE forces colour)
    #[arg(long, global = true)]
    no_color: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the stack and policy files without calling AWS
    Validate,
    /// Show what apply would change
    Plan {
        /// Exit 0 when there are no changes, 2 when there are, 1 on error (or when apply would refuse)
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
    /// Print the shell completion script (see README: Install)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    Man,
}

/// Exit codes: each means one thing.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let style = Style::detect(cli.global.no_color, std::io::stdout().is_terminal());
    let err_style = Style::detect(cli.global.no_color, std::io::stderr().is_terminal());
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            report(&Error::internal(format!("cannot start the runtime: {e}")), err_style);
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match rt.block_on(run(cli, style)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            report(&e, err_style);
            ExitCode::from(EXIT_ERROR)
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

/// `--var NAME=VALUE`, then `PROVISION_VAR_<NAME>` (the flag wins).
fn var_overrides(flags: &[String]) -> crate::Result<Vec<VarOverride>> {
    let mut out: Vec<VarOverride> = std::env::vars()
        .filter_map(|(k, v)| k.strip_prefix("PROVISION_VAR_").map(|n| VarOverride { name: n.to_string(), value: v, source: VarSource::Env }))
        .collect();
    for f in flags {
        let Some((name, value)) = f.split_once('=') else {
            return Err(Error::user(format!("`--var {}` has no value", crate::error::diag::excerpt(f)), "write `--var NAME=VALUE`"));
        };
        out.retain(|o| o.name != name);
        out.push(VarOverride { name: name.to_string(), value: value.to_string(), source: VarSource::Flag });
    }
    Ok(out)
}

/// Load and validate the stack: no AWS call.
fn load(global: &Global) -> crate::Result<(PathBuf, Stack)> {
    let path = choose_stack(global.stack.as_deref(), Path::new("stacks"))?;
    let parsed = stack::load(&path)?;
    let stack = stack::validate(parsed, &Kinds, &var_overrides(&global.vars)?)?;
    Ok((path, stack))
}

/// The context of a run against AWS; the stack's pinned region wins, and a different `--region`
/// is refused rather than silently pointing global IAM policies at another region's ARNs.
async fn connect(global: &Global, path: &Path, stack: &Stack) -> crate::Result<Ctx> {
    if let (Some(flag), Some(pinned)) = (&global.region, &stack.region) {
        if flag != pinned {
            return Err(Error::user(
                format!("--region {flag} disagrees with `region: {pinned}` in {}", path.display()),
                "the stack is pinned to its region: drop --region, or change `region:` in the stack",
            ));
        }
    }
    let opts = aws::Options {
        region: global.region.clone().or_else(|| stack.region.clone()),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    };
    let aws = Arc::new(Aws::load(&opts, &stack.settings).await?);
    let root = stack::load::project_root(path);
    let backups = root.join(".provision/backups");
    engine::connect(aws, &stack.name, stack.settings.clone(), backups).await
}

/// Completions and the man page describe the command line itself: no stack, no AWS.
fn describe(command: &Command) -> Option<crate::Result<u8>> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = std::io::stdout().lock();
    match command {
        Command::Completions { shell } => clap_complete::generate(*shell, &mut cmd, "provision", &mut out),
        Command::Man => {
            if let Err(e) = clap_mangen::Man::new(cmd).render(&mut out) {
                return Some(Err(Error::user(format!("cannot write the man page: {e}"), "redirect it to a file: `provision man > provision.1`")));
            }
        }
        _ => return None,
    }
    Some(Ok(EXIT_OK))
}

async fn run(cli: Cli, style: Style) -> crate::Result<u8> {
    if let Some(done) = describe(&cli.command) {
        return done;
    }
    let (path, stack) = load(&cli.global)?;
    if let Command::Validate = cli.command {
        println!("{}: stack `{}` is valid ({} resources)", path.display(), stack.name, stack.resources.len());
        return Ok(EXIT_OK);
    }
    let ctx = connect(&cli.global, &path, &stack).await?;
    let options = |mode| plan::Options { mode, partial: None };
    match cli.command {
        Command::Validate | Command::Completions { .. } | Command::Man => unreachable!("handled above"),
        Command::Plan { detailed_exitcode, json } => {
            let p = plan::plan(&ctx, &stack, &Kinds, &options(Mode::Apply)).await?;
            if json {
                println!("{}", render::json::render(&p));
            } else {
                print!("{}", render::human::render(&p, style));
            }
            if detailed_exitcode && p.unowned().next().is_some() {
                return Err(refusal(&p));
            }
            Ok(if detailed_exitcode && p.has_changes() { EXIT_CHANGES } else { EXIT_OK })
        }
        Command::Apply { auto_approve } => {
            let p = plan::plan(&ctx, &stack, &Kinds, &options(Mode::Apply)).await?;
            print!("{}", render::human::render(&p, style));
            if p.unowned().next().is_some() {
                return Err(refusal(&p));
            }
            execute(&ctx, &stack, &p, auto_approve, style).await
        }
        Command::Destroy { auto_approve } => {
            let p = plan::plan(&ctx, &stack, &Kinds, &options(Mode::Destroy)).await?;
            print!("{}", render::human::render(&p, style));
            execute(&ctx, &stack, &p, auto_approve, style).await
        }
    }
}

/// Apply refuses while a same-named resource that is not the stack's stands in the way.
fn refusal(p: &Plan) -> Error {
    let s = p.unowned().next().expect("called with an unowned step");
    Error::user(
        format!("{} ({}) exists but is not owned by stack `{}`; refusing to apply", s.address, s.name, p.stack),
        format!("adopt it with `provision adopt {}`, rename it in the stack, or remove it from the stack", s.address),
    )
}

async fn execute(ctx: &Ctx, stack: &Stack, p: &Plan, auto_approve: bool, style: Style) -> crate::Result<u8> {
    let verb = match p.mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    };
    if !p.has_changes() {
        return Ok(EXIT_OK);
    }
    if !auto_approve {
        confirm(verb)?;
    }
    let progress = render::progress::Lines { style };
    let outcome = apply::apply(ctx, stack, &Kinds, p, &progress, apply::stop_requested()).await;
    let c = p.counts();
    if outcome.ok() {
        let done = match p.mode {
            Mode::Apply => format!("Apply complete! Resources: {} added, {} changed, {} destroyed.", c.add, c.change, c.destroy),
            Mode::Destroy => format!("Destroy complete! Resources: {} destroyed.", c.destroy),
        };
        println!("\n{}", style.green(&done));
        return Ok(EXIT_OK);
    }
    let err_style = Style::detect(!style.color, std::io::stderr().is_terminal());
    for (_, e) in &outcome.failed {
        report(e, err_style);
    }
    let finished = outcome.done.iter().filter(|(_, a)| *a != Action::NoOp).count();
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
    report(&Error::user(msg, format!("every step either completed or did not start; {next} `provision {verb}` again to finish")), err_style);
    Ok(if outcome.interrupted { EXIT_INTERRUPTED } else { EXIT_ERROR })
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
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml")).collect())
        .unwrap_or_default();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::user(format!("no stack file given and none found in {}/", dir.display()), "pass -s/--stack FILE")),
        _ => Err(Error::user(
            format!("no stack file given and {}/ holds several", dir.display()),
            format!("pass one with -s/--stack: {}", found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")),
        )),
    }
}
