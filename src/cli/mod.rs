//! The command line: `provision validate | plan | apply | destroy | show | adopt | graph | output`,
//! and the one error reporter.

use crate::aws::{self, Aws};
use crate::contract::{Action, Address, AssumeRole, Ctx, Mode, Partial, Plan, Registry, Shared, ADDRESS_TAG, OWNER_TAG};
use crate::engine::{self, adopt, apply, output, plan, saved};
use crate::files;
use crate::render::{self, Style};
use crate::resources::Kinds;
use crate::stack::{self, Stack, VarOverride, VarSource};
use crate::Error;
use crate::{check, review};
use clap::{Args, Parser, Subcommand};

mod many;
use std::collections::HashMap;
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
    /// Stack file, or a folder of them; repeat it to run several stacks at once (plan, apply,
    /// destroy, validate). Default: the only file in stacks/
    #[arg(short, long = "stack", global = true, value_name = "FILE|DIR")]
    stacks: Vec<PathBuf>,
    /// Make every AWS call as this role, assumed with the credentials found (replaces the role
    /// of the stack's `assume_role`)
    #[arg(long, global = true, value_name = "ROLE_ARN")]
    assume_role: Option<String>,
    /// AWS region (default: the stack's `region`, then the AWS configuration)
    #[arg(long, global = true)]
    region: Option<String>,
    /// Named AWS profile from ~/.aws/config
    #[arg(long, global = true)]
    profile: Option<String>,
    /// The current MFA code, for a profile with `mfa_serial` (else asked on the terminal)
    #[arg(long, global = true, value_name = "CODE")]
    mfa_code: Option<String>,
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
    Validate {
        /// Print the diagnostics as JSON (`valid`, `error_count`, `diagnostics`)
        #[arg(long)]
        json: bool,
    },
    /// Show what apply would change
    Plan {
        /// Exit 0 when there are no changes, 2 when there are, 1 on error (or when apply would refuse)
        #[arg(long)]
        detailed_exitcode: bool,
        /// Output format (markdown: for a pull-request comment or a job summary)
        #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
        format: PlanFormat,
        /// Same as --format json
        #[arg(long)]
        json: bool,
        /// Show what destroy would delete
        #[arg(long)]
        destroy: bool,
        /// Save the plan to FILE (owner-only), for `provision apply FILE`
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        #[command(flatten)]
        scope: Scope,
    },
    /// Make the account match the stack; with FILE, carry out that saved plan exactly
    Apply {
        /// A plan saved by `provision plan -out FILE`: applied without asking, and only if nothing
        /// it was made from has moved
        #[arg(value_name = "FILE", conflicts_with_all = ["targets", "excludes"])]
        plan: Option<PathBuf>,
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
        /// Apply even though `provision check` finds errors
        #[arg(long)]
        ignore_check: bool,
        #[command(flatten)]
        scope: Scope,
    },
    /// Will the pipeline work? Check the IAM chain and lint the policies, without calling AWS
    Check {
        /// Output format
        #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
        format: CheckFormat,
        /// Same as --format json
        #[arg(long)]
        json: bool,
        /// Read the account: live AWS-managed policies and the clusters' authentication modes
        #[arg(long)]
        live: bool,
    },
    /// Delete what the stack owns, and nothing else
    Destroy {
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
        #[command(flatten)]
        scope: Scope,
    },
    /// Show who AWS calls run as and which credential source supplied them (no secrets)
    Whoami,
    /// Print the shell completion script (see README: Install)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff)
    Man,
    /// Show a saved plan
    Show {
        #[arg(value_name = "FILE")]
        plan: PathBuf,
        /// Output format (markdown: for a pull-request comment or a job summary)
        #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
        format: PlanFormat,
        /// Same as --format json
        #[arg(long)]
        json: bool,
    },
    /// Make an existing resource that is not this stack's its own, by tagging it
    Adopt {
        /// The stack address it is declared at, e.g. iam_role.kubectl
        address: String,
        /// Take it over from this stack (it carries that stack's tag)
        #[arg(long, value_name = "NAME")]
        from_stack: Option<String>,
        /// Do not ask for confirmation
        #[arg(long)]
        auto_approve: bool,
    },
    /// Print the stack's dependency graph
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Colour each resource by what a plan would do to it (reads the account)
        #[arg(long)]
        plan: bool,
    },
    /// Print attributes of applied resources (all, or one as `ADDRESS.ATTRIBUTE`)
    Output {
        /// e.g. ecr_repository.app.uri: printed alone, for scripts
        #[arg(value_name = "ADDRESS.ATTRIBUTE")]
        name: Option<String>,
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
}

/// Which resources a plan covers.
#[derive(Args, Debug, Default)]
struct Scope {
    /// Only this resource and what it depends on (destroy: and what depends on it); repeatable
    #[arg(long = "target", value_name = "ADDRESS")]
    targets: Vec<String>,
    /// Everything but this resource and what depends on it (destroy: and what it depends on); repeatable
    #[arg(long = "exclude", value_name = "ADDRESS")]
    excludes: Vec<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum GraphFormat {
    Dot,
    Mermaid,
}

/// Terraform spells these with one dash (`-out`, `-target`, `-exclude`, `-destroy`); so may you.
fn terraform_flags(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const ONE_DASH: [&str; 4] = ["out", "target", "exclude", "destroy"];
    args.map(|a| match a.to_str().and_then(|s| s.strip_prefix('-')) {
        Some(rest) if ONE_DASH.contains(&rest.split('=').next().unwrap_or(rest)) => format!("--{rest}").into(),
        _ => a,
    })
    .collect()
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PlanFormat {
    Human,
    Json,
    Markdown,
}

impl PlanFormat {
    /// `--json` is kept as the short way to say `--format json`.
    fn or_json(self, json: bool) -> Self {
        if json {
            PlanFormat::Json
        } else {
            self
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CheckFormat {
    Human,
    Json,
    Sarif,
}

/// Exit codes: each means one thing.
pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(terraform_flags(std::env::args_os())) {
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

/// The stack files named by `-s` (a folder stands for its `*.yaml` files), or the only one in
/// `stacks/`.
fn stack_paths(global: &Global) -> crate::Result<Vec<PathBuf>> {
    if global.stacks.is_empty() {
        return Ok(vec![choose_stack(None, Path::new("stacks"))?]);
    }
    let mut out: Vec<PathBuf> = Vec::new();
    for given in &global.stacks {
        let found = if given.is_dir() { yaml_files(given) } else { vec![given.clone()] };
        if found.is_empty() {
            return Err(Error::user(format!("{} holds no stack file (*.yaml, *.yml)", given.display()), "name a stack file or a folder of them with -s"));
        }
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// Load and validate one stack: no AWS call.
fn load(global: &Global) -> crate::Result<(PathBuf, Stack)> {
    let mut paths = stack_paths(global)?;
    if paths.len() > 1 {
        return Err(Error::user(
            format!("this command takes one stack, and {} were given", paths.len()),
            "name one with -s FILE; plan, apply, destroy and validate take several",
        ));
    }
    let path = paths.remove(0);
    let stack = load_path(global, &path)?;
    Ok((path, stack))
}

fn load_path(global: &Global, path: &Path) -> crate::Result<Stack> {
    let parsed = stack::load(path)?;
    stack::validate(parsed, &Kinds, &var_overrides(&global.vars)?)
}

/// The AWS connections of a run. Stacks that act with the same credentials, role and region share
/// one (its clients and connection pools, one GetCallerIdentity); stacks in the same account share
/// the limit on changes in flight per service and one read of IAM's account-wide picture.
#[derive(Default)]
struct Connections {
    /// An MFA profile's session, asked for once per run.
    mfa: tokio::sync::OnceCell<Option<aws_credential_types::Credentials>>,
    shared: std::sync::Mutex<HashMap<ConnectionKey, Arc<Connecting>>>,
    per_account: std::sync::Mutex<HashMap<String, Arc<Shared>>>,
}

/// A connection being made (or made, or failed): the first stack that needs it makes it.
type Connecting = tokio::sync::OnceCell<Result<engine::Connection, Error>>;

#[derive(Clone, PartialEq, Eq, Hash)]
struct ConnectionKey {
    region: Option<String>,
    assume_role: Option<AssumeRole>,
    timeouts: [std::time::Duration; 3],
}

impl Connections {
    /// The context of one stack's run; the stack's pinned region wins, and a different `--region`
    /// is refused rather than silently pointing global IAM policies at another region's ARNs.
    async fn ctx(&self, global: &Global, path: &Path, stack: &Stack) -> crate::Result<Ctx> {
        if let (Some(flag), Some(pinned)) = (&global.region, &stack.region) {
            if flag != pinned {
                return Err(Error::user(
                    format!("--region {flag} disagrees with `region: {pinned}` in {}", path.display()),
                    "the stack is pinned to its region: drop --region, or change `region:` in the stack",
                ));
            }
        }
        let region = global.region.clone().or_else(|| stack.region.clone());
        let assume_role = match (&global.assume_role, &stack.assume_role) {
            (Some(arn), from_stack) => Some(flag_role(arn, from_stack.as_ref())?),
            (None, from_stack) => from_stack.clone(),
        };
        let s = &stack.settings;
        let key = ConnectionKey { region: region.clone(), assume_role: assume_role.clone(), timeouts: [s.connect_timeout, s.attempt_timeout, s.call_timeout] };
        let cell = self.shared.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default().clone();
        let connection = cell
            .get_or_init(|| async {
                let credentials = self
                    .mfa
                    .get_or_try_init(|| {
                        crate::mfa::session(global.profile.as_deref(), global.mfa_code.as_deref(), region.as_deref(), global.endpoint_url.as_deref())
                    })
                    .await?
                    .clone();
                // Sessions say `provision` in CloudTrail unless the stack names its own.
                let assume_role = assume_role.map(|r| (r, "provision".to_string()));
                let opts = aws::Options {
                    region: region.clone(),
                    profile: global.profile.clone(),
                    endpoint_url: global.endpoint_url.clone(),
                    credentials,
                    assume_role,
                };
                engine::connect(Arc::new(Aws::load(&opts, s).await?)).await
            })
            .await
            .clone()?;
        let shared =
            self.per_account.lock().unwrap_or_else(|e| e.into_inner()).entry(connection.account_id.clone()).or_insert_with(|| Arc::new(Shared::new(s))).clone();
        let backups = stack::load::project_root(path).join(".provision/backups");
        Ok(connection.ctx(&stack.name, stack.settings.clone(), backups, shared))
    }
}

/// `--assume-role ARN`: the stack's external id and session name still apply.
fn flag_role(arn: &str, from_stack: Option<&AssumeRole>) -> crate::Result<AssumeRole> {
    if !stack::validate::valid_role_arn(arn) {
        return Err(Error::user(
            format!("--assume-role `{}` is not a role ARN", crate::error::diag::excerpt(arn)),
            "write e.g. --assume-role arn:aws:iam::111122223333:role/provision-applier",
        ));
    }
    Ok(AssumeRole { role_arn: arn.to_string(), ..from_stack.cloned().unwrap_or(AssumeRole { role_arn: String::new(), external_id: None, session_name: None }) })
}

/// A single stack's context.
async fn connect(global: &Global, path: &Path, stack: &Stack) -> crate::Result<Ctx> {
    Connections::default().ctx(global, path, stack).await
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
    if let Command::Whoami = cli.command {
        return whoami(&cli.global).await;
    }
    // What needs no stack, or must report a stack that does not load.
    match &cli.command {
        Command::Show { plan, format, json } => {
            let p = saved::read(plan)?;
            match format.or_json(*json) {
                PlanFormat::Json => println!("{}", render::json::render(&p)),
                PlanFormat::Markdown => print!("{}", render::markdown::render(&p)),
                PlanFormat::Human => print!("{}", render::human::render(&p, style)),
            }
            return Ok(EXIT_OK);
        }
        Command::Validate { json: true } => {
            let r = load(&cli.global).map(|_| ());
            println!("{}", render::json::validation(&r));
            return Ok(if r.is_ok() { EXIT_OK } else { EXIT_ERROR });
        }
        _ => {}
    }
    if matches!(cli.command, Command::Plan { .. } | Command::Apply { plan: None, .. } | Command::Destroy { .. } | Command::Validate { json: false }) {
        let paths = stack_paths(&cli.global)?;
        if paths.len() > 1 {
            return many::run(&cli, paths, style).await;
        }
    }
    let (path, stack) = load(&cli.global)?;
    match cli.command {
        Command::Validate { .. } => {
            println!("{}: stack `{}` is valid ({} resources)", path.display(), stack.name, stack.resources.len());
            return Ok(EXIT_OK);
        }
        Command::Graph { format, plan: false } => {
            print!("{}", graph(&stack, None, format));
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    if let Command::Check { format, json, live } = cli.command {
        return check(&cli.global, &path, &stack, if json { CheckFormat::Json } else { format }, live, style).await;
    }
    let ctx = connect(&cli.global, &path, &stack).await?;
    let everything = |mode| plan::Options { mode, partial: None };
    match cli.command {
        Command::Validate { .. } | Command::Show { .. } | Command::Check { .. } | Command::Whoami | Command::Completions { .. } | Command::Man => {
            unreachable!("handled above")
        }
        Command::Plan { detailed_exitcode, format, json, destroy, out, scope } => {
            let mode = if destroy { Mode::Destroy } else { Mode::Apply };
            let opts = scope.options(&stack, mode)?;
            let planning = plan::plan(&ctx, &stack, &Kinds, &opts);
            let format = format.or_json(json);
            let p = match format {
                PlanFormat::Json => planning.await.inspect(|p| println!("{}", render::json::render(p)))?,
                PlanFormat::Markdown => planning.await.inspect(|p| print!("{}", render::markdown::render(p)))?,
                PlanFormat::Human => {
                    let (p, report) = review::alongside(&ctx, &stack, planning).await?;
                    print!("{}", render::human::render_with(&p, style, &check_section(&report, style)));
                    p
                }
            };
            let refuses = p.mode == Mode::Apply && p.unowned().next().is_some();
            if let Some(file) = out {
                if refuses {
                    return Err(refusal(&p).with_help("a saved plan is not written while apply would refuse it: settle the `!` lines above first"));
                }
                files::write_private(&file, saved::to_text(&p).as_bytes())
                    .map_err(|e| Error::user(format!("cannot write the plan to {}: {e}", file.display()), "choose a writable path for -out"))?;
                // On stderr with --json / markdown: stdout stays one document.
                let msg = format!("Saved the plan to {}. To carry out exactly this plan: provision apply {}", file.display(), file.display());
                if format != PlanFormat::Human {
                    eprintln!("{msg}");
                } else {
                    println!("\n{msg}");
                }
            }
            if detailed_exitcode && refuses {
                return Err(refusal(&p));
            }
            Ok(if detailed_exitcode && p.has_changes() { EXIT_CHANGES } else { EXIT_OK })
        }
        Command::Apply { plan: Some(file), ignore_check, .. } => {
            let saved = saved::read(&file)?;
            saved::check_origin(&saved, &stack, &ctx)?;
            if saved.mode == Mode::Apply && saved.unowned().next().is_some() {
                return Err(refusal(&saved));
            }
            // The same plan made now: what it read must be what the saved one read.
            let opts = plan::Options { mode: saved.mode, partial: saved.partial.clone() };
            let (fresh, report) = review::alongside(&ctx, &stack, plan::plan(&ctx, &stack, &Kinds, &opts)).await?;
            let p = saved::reconcile(saved, &fresh)?;
            // The plan was reviewed when it was saved: say what runs, not the whole plan again.
            let c = p.counts();
            print!("{}", check_section(&report, style));
            println!(
                "{} {}: {} to add, {} to change, {} to destroy (nothing it was made from has moved).\n",
                style.bold("Applying the saved plan"),
                file.display(),
                c.add,
                c.change,
                c.destroy
            );
            if p.mode == Mode::Apply && report.failed() && !ignore_check {
                return Err(check_refusal());
            }
            execute(&ctx, &stack, &p, true, style).await
        }
        Command::Apply { plan: None, auto_approve, ignore_check, scope } => {
            let opts = scope.options(&stack, Mode::Apply)?;
            let planning = plan::plan(&ctx, &stack, &Kinds, &opts);
            let (p, report) = review::alongside(&ctx, &stack, planning).await?;
            print!("{}", render::human::render_with(&p, style, &check_section(&report, style)));
            if p.unowned().next().is_some() {
                return Err(refusal(&p));
            }
            if report.failed() && !ignore_check {
                return Err(check_refusal());
            }
            execute(&ctx, &stack, &p, auto_approve, style).await
        }
        Command::Destroy { auto_approve, scope } => {
            let p = plan::plan(&ctx, &stack, &Kinds, &scope.options(&stack, Mode::Destroy)?).await?;
            print!("{}", render::human::render(&p, style));
            execute(&ctx, &stack, &p, auto_approve, style).await
        }
        Command::Adopt { address, from_stack, auto_approve } => {
            let address = declared(&stack, "adopt", &address)?;
            let p = plan::plan(&ctx, &stack, &Kinds, &everything(Mode::Apply)).await?;
            let c = adopt::candidate(&p, &stack, &Kinds, &address, from_stack.as_deref())?;
            let whose = match &c.step.owner {
                Some(o) => format!("belongs to stack `{o}`"),
                None => format!("has no `{OWNER_TAG}` tag"),
            };
            println!("{address} ({}) exists and {whose}.", c.step.name);
            println!("Adopting it tags it {OWNER_TAG}={} and {ADDRESS_TAG}={address}; nothing else about it changes now.", stack.name);
            if c.changes.is_empty() {
                println!("It matches the stack: once adopted, plans show no change for it.");
            } else {
                let mut text = String::new();
                render::human::changes(&mut text, &c.changes, style);
                println!("It differs from the stack; once adopted, `provision apply` makes these changes:\n{text}");
            }
            if !auto_approve {
                confirm("adopt", &format!("Do you want stack `{}` to adopt {address}?", stack.name))?;
            }
            adopt::adopt(&ctx, &Kinds, &c).await?;
            println!("{}", style.green(&format!("{address} is now stack `{}`'s.", stack.name)));
            Ok(EXIT_OK)
        }
        Command::Graph { format, plan: true } => {
            let p = plan::plan(&ctx, &stack, &Kinds, &everything(Mode::Apply)).await?;
            print!("{}", graph(&stack, Some(&p), format));
            Ok(EXIT_OK)
        }
        Command::Graph { plan: false, .. } => unreachable!("handled above"),
        Command::Output { name, json } => {
            let p = plan::plan(&ctx, &stack, &Kinds, &everything(Mode::Apply)).await?;
            let outs = output::outputs(&ctx, &Kinds, &p)?;
            match name {
                Some(name) => {
                    let value = one_output(&stack, &outs, &name)?;
                    println!("{}", if json { serde_json::Value::String(value).to_string() } else { value });
                }
                None if json => {
                    let doc: serde_json::Map<String, serde_json::Value> =
                        outs.iter().map(|(a, m)| (a.to_string(), serde_json::to_value(m).expect("strings serialise"))).collect();
                    println!("{}", serde_json::to_string_pretty(&doc).expect("strings serialise"));
                }
                None => {
                    if outs.is_empty() {
                        eprintln!("nothing of stack `{}` exists yet: `provision apply` creates it", stack.name);
                    }
                    for (a, m) in &outs {
                        for (k, v) in m {
                            println!("{a}.{k} = {v}");
                        }
                    }
                }
            }
            Ok(EXIT_OK)
        }
    }
}

impl Scope {
    fn options(&self, stack: &Stack, mode: Mode) -> crate::Result<plan::Options> {
        let all = |flag: &str, given: &[String]| given.iter().map(|g| declared(stack, flag, g)).collect::<crate::Result<Vec<_>>>();
        let (targets, excludes) = (all("-target", &self.targets)?, all("-exclude", &self.excludes)?);
        let partial = (!targets.is_empty() || !excludes.is_empty()).then_some(Partial { targets, excludes });
        Ok(plan::Options { mode, partial })
    }
}

/// An address the user typed, which the stack must declare.
fn declared(stack: &Stack, context: &str, given: &str) -> crate::Result<Address> {
    Address::parse(given).filter(|a| stack.resource(a).is_some()).ok_or_else(|| {
        let known: Vec<String> = stack.resources.iter().map(|r| r.address.to_string()).collect();
        Error::user(
            format!("`{context} {}`: stack `{}` declares no such resource", crate::error::diag::excerpt(given), stack.name),
            format!("the stack declares: {}", known.join(", ")),
        )
    })
}

/// `ADDRESS.ATTRIBUTE` of an applied resource.
fn one_output(stack: &Stack, outs: &output::Outputs, name: &str) -> crate::Result<String> {
    let (address, attribute) = name.rsplit_once('.').unwrap_or((name, ""));
    let address = declared(stack, "output", address).map_err(|e| {
        let help = format!("write ADDRESS.ATTRIBUTE, e.g. `ecr_repository.app.uri`; {}", e.help().unwrap_or_default());
        e.with_help(help)
    })?;
    let kind = Kinds.get(&address.kind).ok_or_else(|| Error::internal(format!("no kind `{}`", address.kind)))?;
    let names: Vec<&str> = kind.schema().attributes.iter().map(|a| a.name).collect();
    if !names.contains(&attribute) {
        return Err(Error::user(
            format!("`{}` has no attribute `{}`", address.kind, crate::error::diag::excerpt(attribute)),
            format!("its attributes: {}", names.iter().map(|n| format!("{address}.{n}")).collect::<Vec<_>>().join(", ")),
        ));
    }
    let Some(values) = outs.get(&address) else {
        return Err(Error::user(format!("{address} does not exist yet (or is not stack `{}`'s)", stack.name), "run `provision apply` first"));
    };
    values.get(attribute).cloned().ok_or_else(|| Error::user(format!("{address}.{attribute} is not known"), "run `provision apply` first"))
}

fn graph(stack: &Stack, p: Option<&Plan>, format: GraphFormat) -> String {
    let action = |a: &Address| p.and_then(|p| p.steps.iter().find(|s| &s.address == a).map(|s| s.action));
    let mut nodes: Vec<(Address, Option<Action>)> = stack.resources.iter().map(|r| (r.address.clone(), action(&r.address))).collect();
    // Resources the stack owns but no longer declares: the plan deletes them.
    for s in p.map(|p| p.steps.as_slice()).unwrap_or_default() {
        if !nodes.iter().any(|(a, _)| a == &s.address) {
            nodes.push((s.address.clone(), Some(s.action)));
        }
    }
    let edges = stack.resources.iter().flat_map(|r| r.deps.iter().map(|d| (d.clone(), r.address.clone()))).collect();
    let g = render::graph::Graph { stack: stack.name.clone(), nodes, edges };
    match format {
        GraphFormat::Dot => g.dot(),
        GraphFormat::Mermaid => g.mermaid(),
    }
}

/// `provision check`: offline unless `--live`.
async fn check(global: &Global, path: &Path, stack: &Stack, format: CheckFormat, live: bool, style: Style) -> crate::Result<u8> {
    let (ctx, managed) = if live {
        let ctx = connect(global, path, stack).await?;
        // Describe the clusters the stack names: their authentication modes decide the Kubernetes hop.
        for (_, state, _) in plan::resolved(&ctx, stack, &Kinds)? {
            if let Some(cluster) = state["cluster"].as_str() {
                ctx.clusters.describe(&ctx.aws, &ctx.region, cluster).await?;
            }
        }
        let managed = review::live_managed(&ctx, stack).await?;
        (ctx, managed)
    } else {
        (review::offline(stack), check::ManagedPolicies::bundled())
    };
    let report = review::review(&ctx, stack, managed)?;
    match format {
        CheckFormat::Human => print!("{}", review::human(&report, style, false)),
        CheckFormat::Json => println!("{}", serde_json::to_string_pretty(&report.to_json()).expect("JSON")),
        CheckFormat::Sarif => println!("{}", serde_json::to_string_pretty(&report.to_sarif(&review::locations(stack))).expect("JSON")),
    }
    Ok(if report.failed() { EXIT_ERROR } else { EXIT_OK })
}

fn check_refusal() -> Error {
    Error::user(
        "refusing to apply: `provision check` finds that the pipeline would fail (see above)",
        "fix the stack as the check says, or pass --ignore-check to apply anyway",
    )
}

/// What `check` found that a plan reader should see: failures, conditions, lint findings.
fn check_section(report: &check::Report, style: Style) -> String {
    let text = review::human(report, style, true);
    if text.trim().is_empty() {
        String::new()
    } else {
        format!("{} (`provision check` for every hop)\n{text}\n", style.bold("Check:"))
    }
}

/// `whoami` needs no stack; STS answers in any region, so one is picked when none is configured.
async fn whoami(global: &Global) -> crate::Result<u8> {
    let credentials =
        crate::mfa::session(global.profile.as_deref(), global.mfa_code.as_deref(), global.region.as_deref(), global.endpoint_url.as_deref()).await?;
    let assume_role = global.assume_role.as_deref().map(|arn| flag_role(arn, None).map(|r| (r, "provision".to_string()))).transpose()?;
    let mut opts =
        aws::Options { region: global.region.clone(), profile: global.profile.clone(), endpoint_url: global.endpoint_url.clone(), credentials, assume_role };
    let settings = crate::contract::Settings::default();
    let mut aws = Aws::load(&opts, &settings).await?;
    if aws.region().is_none() {
        opts.region = Some("us-east-1".into());
        aws = Aws::load(&opts, &settings).await?;
    }
    print!("{}", crate::identity::render(&crate::identity::whoami(&aws).await?));
    Ok(EXIT_OK)
}

/// Apply refuses while a same-named resource that is not the stack's stands in the way.
fn refusal(p: &Plan) -> Error {
    let s = p.unowned().next().expect("called with an unowned step");
    Error::user(
        format!("{} ({}) exists but is not owned by stack `{}`; refusing to apply", s.address, s.name, p.stack),
        format!("adopt it with `provision adopt {}`, rename it in the stack, or remove it from the stack", s.address),
    )
}

fn verb(mode: Mode) -> &'static str {
    match mode {
        Mode::Apply => "apply",
        Mode::Destroy => "destroy",
    }
}

async fn execute(ctx: &Ctx, stack: &Stack, p: &Plan, auto_approve: bool, style: Style) -> crate::Result<u8> {
    if !p.has_changes() {
        return Ok(EXIT_OK);
    }
    let verb = verb(p.mode);
    if !auto_approve {
        confirm(verb, &format!("Do you want to {verb} these changes?"))?;
    }
    let progress = render::progress::for_stdout(style);
    carry_out(ctx, stack, p, progress.as_ref(), style, "").await
}

/// Carry out a plan the user agreed to, progress through `observer`; what failed is reported, each
/// line after `prefix` (which stack, when a run has several). The exit code.
async fn carry_out(ctx: &Ctx, stack: &Stack, p: &Plan, observer: &dyn crate::contract::Observer, style: Style, prefix: &str) -> crate::Result<u8> {
    let verb = verb(p.mode);
    let outcome = apply::apply(ctx, stack, &Kinds, p, observer, apply::stop_requested()).await;
    let c = p.counts();
    if outcome.ok() {
        let done = match p.mode {
            Mode::Apply => format!("Apply complete! Resources: {} added, {} changed, {} destroyed.", c.add, c.change, c.destroy),
            Mode::Destroy => format!("Destroy complete! Resources: {} destroyed.", c.destroy),
        };
        println!("\n{prefix}{}", style.green(&done));
        return Ok(EXIT_OK);
    }
    let err_style = Style::detect(!style.color, std::io::stderr().is_terminal());
    for (_, e) in &outcome.failed {
        eprint!("{prefix}");
        report(e, err_style);
        if let Error::Call(c) = e {
            if c.class == crate::error::Class::AccessDenied {
                for line in review::explain_denied(ctx, stack, &c.message).await {
                    eprintln!("  {line}");
                }
            }
        }
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
    eprint!("{prefix}");
    report(&Error::user(msg, format!("every step either completed or did not start; {next} `provision {verb}` again to finish")), err_style);
    Ok(if outcome.interrupted { EXIT_INTERRUPTED } else { EXIT_ERROR })
}

fn confirm(verb: &str, question: &str) -> crate::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::user(
            format!("refusing to {verb} without confirmation: there is no terminal to ask"),
            format!("review the plan above and pass --auto-approve to `provision {verb}`"),
        ));
    }
    print!("\n{question} Only 'yes' will be accepted: ");
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
    let mut found = yaml_files(dir);
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::user(format!("no stack file given and none found in {}/", dir.display()), "pass -s/--stack FILE")),
        _ => Err(Error::user(
            format!("no stack file given and {}/ holds several", dir.display()),
            format!("pass one with -s/--stack: {}", found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")),
        )),
    }
}

/// The stack files in a folder, in name order.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml")).collect())
        .unwrap_or_default();
    found.sort();
    found
}
