//! `plan | apply | destroy | validate` over several stacks in one process: every stack is
//! planned at once (stacks with the same credentials and region share their AWS clients, stacks in
//! one account share the limit on changes in flight per service), the plans are shown in the
//! order given, one question covers them all, the applies run at once, and a table sums up. One
//! stack's failure stops no other; the exit code is the worst of them.

use super::*;
use crate::render::many::{self as table, Row, Status};

/// One stack of the run, as far as it got.
struct Entry {
    path: PathBuf,
    stack: crate::Result<Stack>,
    planned: Option<crate::Result<Planned>>,
    applied: Option<crate::Result<u8>>,
}

struct Planned {
    ctx: Ctx,
    plan: Plan,
    text: String,
    check_failed: bool,
}

pub(super) async fn run(cli: &Cli, paths: Vec<PathBuf>, style: Style) -> crate::Result<u8> {
    let global = &cli.global;
    let (mode, detailed, applying, auto_approve, ignore_check) = match &cli.command {
        Command::Validate { .. } => return Ok(validate(global, paths)),
        Command::Plan { detailed_exitcode, format, json, destroy, out, scope } => {
            one_stack_only(*json || *format != PlanFormat::Human, out.is_some(), scope)?;
            // A plan never refuses for what `check` finds (it shows it): only apply does.
            (if *destroy { Mode::Destroy } else { Mode::Apply }, *detailed_exitcode, false, false, true)
        }
        Command::Apply { auto_approve, ignore_check, scope, .. } => {
            one_stack_only(false, false, scope)?;
            (Mode::Apply, false, true, *auto_approve, *ignore_check)
        }
        Command::Destroy { auto_approve, scope } => {
            one_stack_only(false, false, scope)?;
            (Mode::Destroy, false, true, *auto_approve, true)
        }
        _ => return Err(Error::internal("only plan, apply, destroy and validate take several stacks")),
    };
    let mut entries = load_all(global, paths);
    let connections = Connections::default();
    let plans = futures::future::join_all(entries.iter().map(|e| async {
        let stack = e.stack.as_ref().map_err(Clone::clone)?;
        plan_one(&connections, global, &e.path, stack, mode, style).await
    }))
    .await;
    for (e, p) in entries.iter_mut().zip(plans) {
        e.planned = Some(p);
    }
    let err_style = Style::detect(global.no_color, std::io::stderr().is_terminal());
    for e in &entries {
        println!("{}", style.bold(&format!("==> {} (stack {})", e.path.display(), name(e))));
        match e.planned.as_ref().expect("planned above") {
            Ok(p) => print!("{}", p.text),
            Err(err) => report(err, err_style),
        }
        println!();
    }
    // Why apply refuses a stack, or would.
    let held = |p: &Planned| -> Option<String> {
        let why = if p.plan.mode == Mode::Apply && p.plan.unowned().next().is_some() {
            format!("{} exists and is not the stack's", p.plan.unowned().next().map(|s| s.address.to_string()).unwrap_or_default())
        } else if p.plan.mode == Mode::Apply && p.check_failed && !ignore_check {
            "`provision check` fails (--ignore-check to apply anyway)".into()
        } else {
            return None;
        };
        Some(if applying { format!("not applied: {why}") } else { format!("apply would refuse: {why}") })
    };
    if !applying {
        println!("{}", table::table(&rows(&entries, held), style));
        let failed = entries.iter().any(|e| !matches!(e.planned, Some(Ok(ref p)) if !detailed || held(p).is_none()));
        let changes = entries.iter().any(|e| matches!(e.planned, Some(Ok(ref p)) if p.plan.has_changes()));
        return Ok(if failed {
            EXIT_ERROR
        } else if detailed && changes {
            EXIT_CHANGES
        } else {
            EXIT_OK
        });
    }
    let ready: Vec<usize> =
        (0..entries.len()).filter(|&i| matches!(entries[i].planned, Some(Ok(ref p)) if p.plan.has_changes() && held(p).is_none())).collect();
    if !ready.is_empty() {
        println!("{}", table::table(&rows(&entries, held), style));
        let verb = super::verb(mode);
        if !auto_approve {
            confirm(verb, &format!("Do you want to {verb} the changes to {} stack(s)?", ready.len()))?;
        }
        let results = futures::future::join_all(ready.iter().map(|&i| {
            let e = &entries[i];
            async move {
                let (Ok(stack), Some(Ok(p))) = (&e.stack, &e.planned) else { unreachable!("only planned stacks are ready") };
                let observer = render::progress::Lines { style, prefix: format!("[{}] ", stack.name) };
                super::carry_out(&p.ctx, stack, &p.plan, &observer, style, &format!("[{}] ", stack.name)).await
            }
        }))
        .await;
        for (i, r) in ready.into_iter().zip(results) {
            entries[i].applied = Some(r);
        }
    }
    for e in &entries {
        if let Some(Err(err)) = &e.applied {
            eprint!("[{}] ", name(e));
            report(err, err_style);
        }
    }
    println!("\n{}", table::table(&rows(&entries, held), style));
    let interrupted = entries.iter().any(|e| matches!(e.applied, Some(Ok(EXIT_INTERRUPTED))));
    let failed = entries.iter().any(|e| match (&e.planned, &e.applied) {
        (_, Some(r)) => !matches!(r, Ok(EXIT_OK)),
        (Some(Ok(p)), None) => held(p).is_some(),
        _ => true,
    });
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if failed {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

/// Saved plans, JSON or Markdown plans and -target/-exclude are about one stack.
fn one_stack_only(json: bool, out: bool, scope: &Scope) -> crate::Result<()> {
    let what = if json {
        "--json / --format"
    } else if out {
        "-out"
    } else if !scope.targets.is_empty() || !scope.excludes.is_empty() {
        "-target / -exclude"
    } else {
        return Ok(());
    };
    Err(Error::user(format!("{what} works on one stack, and several were given"), "name one stack with -s FILE"))
}

/// Load every stack; two files that declare the same stack name would each delete what the other
/// created (ownership is the name), so neither is used.
fn load_all(global: &Global, paths: Vec<PathBuf>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = paths.into_iter().map(|path| Entry { stack: load_path(global, &path), path, planned: None, applied: None }).collect();
    let names: Vec<Option<String>> = entries.iter().map(|e| e.stack.as_ref().ok().map(|s| s.name.clone())).collect();
    for (i, e) in entries.iter_mut().enumerate() {
        let Some(name) = &names[i] else { continue };
        let others: Vec<String> = names.iter().enumerate().filter(|(j, n)| *j != i && n.as_ref() == Some(name)).map(|(j, _)| format!("#{}", j + 1)).collect();
        if !others.is_empty() {
            e.stack = Err(Error::user(
                format!("{} declares `stack: {name}`, as do the run's other stack files {}", e.path.display(), others.join(", ")),
                "a stack's name is what it owns in AWS: give each stack file its own `stack:` name",
            ));
        }
    }
    entries
}

async fn plan_one(connections: &Connections, global: &Global, path: &Path, stack: &Stack, mode: Mode, style: Style) -> crate::Result<Planned> {
    let ctx = connections.ctx(global, path, stack).await?;
    let plan = plan::plan(&ctx, stack, &Kinds, &plan::Options { mode, partial: None }).await?;
    let (section, check_failed) = if mode == Mode::Apply {
        let report = review::review(&ctx, stack, check::ManagedPolicies::bundled())?;
        (check_section(&report, style), report.failed())
    } else {
        (String::new(), false)
    };
    let text = render::human::render_with(&plan, style, &section);
    Ok(Planned { ctx, plan, text, check_failed })
}

fn name(e: &Entry) -> String {
    match &e.stack {
        Ok(s) => s.name.clone(),
        Err(_) => e.path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default(),
    }
}

fn rows(entries: &[Entry], held: impl Fn(&Planned) -> Option<String>) -> Vec<Row> {
    entries
        .iter()
        .map(|e| {
            let (account, region, counts, status) = match &e.planned {
                Some(Ok(p)) => {
                    let status = match &e.applied {
                        Some(Ok(EXIT_OK)) => Status::Applied,
                        Some(Ok(EXIT_INTERRUPTED)) => Status::Held("not applied: interrupted".into()),
                        Some(Ok(_)) => Status::Failed("see the errors above".into()),
                        Some(Err(err)) => Status::Failed(short(err)),
                        None => match held(p) {
                            Some(why) => Status::Held(why),
                            None if p.plan.has_changes() => Status::Changes,
                            None => Status::NoChanges,
                        },
                    };
                    (p.ctx.account_id.clone(), p.ctx.region.clone(), Some(p.plan.counts()), status)
                }
                Some(Err(err)) => ("-".into(), "-".into(), None, Status::Failed(short(err))),
                None => ("-".into(), "-".into(), None, Status::Failed(e.stack.as_ref().err().map(short).unwrap_or_default())),
            };
            Row { stack: name(e), account, region, counts, status }
        })
        .collect()
}

/// A failure in a few words, for the table (the whole error is printed above it).
fn short(e: &Error) -> String {
    match e {
        Error::Stack(d) => format!("{} error(s) in the stack file", d.0.len()),
        Error::Call(c) => format!("{} failed: {}", c.operation, c.code),
        other => {
            let text = other.to_string();
            let first = text.lines().next().unwrap_or_default();
            match first.char_indices().nth(60) {
                Some((i, _)) => format!("{}…", &first[..i]),
                None => first.to_string(),
            }
        }
    }
}

/// `validate` of several stacks: each one's verdict; exit 1 if any is invalid.
fn validate(global: &Global, paths: Vec<PathBuf>) -> u8 {
    let err_style = Style::detect(global.no_color, std::io::stderr().is_terminal());
    let mut code = EXIT_OK;
    for e in load_all(global, paths) {
        match &e.stack {
            Ok(s) => println!("{}: stack `{}` is valid ({} resources)", e.path.display(), s.name, s.resources.len()),
            Err(err) => {
                report(err, err_style);
                code = EXIT_ERROR;
            }
        }
    }
    code
}
