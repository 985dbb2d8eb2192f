//! Carry out a plan: walk the reference graph, starting a step as soon as everything it depends on
//! is done (for destroy: as soon as everything that depends on it is gone), with at most
//! `settings.parallelism` steps in flight. A failed step stops only the steps that depend on it;
//! everything independent finishes, and the summary says what did not run. Every kind's operations
//! are idempotent and names are identities, so running apply again finishes the job.

use super::plan::{desired_for, kind_of, Action, Mode, Plan, Step};
use super::Ctx;
use crate::render::Progress;
use crate::resources::Attrs;
use crate::stack::{Address, Stack};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

#[derive(Debug, Default)]
pub struct Outcome {
    pub done: Vec<(Address, Action)>,
    pub failed: Vec<(Address, crate::Error)>,
    /// Not started because something they depend on failed.
    pub skipped: Vec<Address>,
    /// Interrupted (Ctrl-C / SIGTERM): steps in flight were finished, none was started after.
    pub interrupted: bool,
    /// Not started because of the interruption.
    pub not_started: Vec<Address>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && !self.interrupted
    }
}

/// Resolves when the user asks to stop (Ctrl-C, or SIGTERM from a CI runner).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub async fn apply(ctx: &Ctx, stack: &Stack, plan: &Plan, progress: &Progress) -> Outcome {
    let steps: HashMap<&Address, &Step> = plan.steps.iter().map(|s| (&s.address, s)).collect();
    // What each step waits for.
    let mut waits: HashMap<&Address, Vec<&Address>> = HashMap::new();
    for s in &plan.steps {
        waits.entry(&s.address).or_default();
        for d in &s.deps {
            let Some((dep, _)) = steps.get_key_value(d) else { continue };
            match plan.mode {
                Mode::Apply => waits.entry(&s.address).or_default().push(dep),
                Mode::Destroy => waits.entry(dep).or_default().push(&s.address),
            }
        }
    }

    // Attributes as they become known; the starting point is what the plan saw.
    let mut attrs: HashMap<Address, Attrs> = plan
        .steps
        .iter()
        .map(|s| {
            let live = match s.action {
                Action::Create | Action::Replace => None,
                _ => s.live.as_ref(),
            };
            (s.address.clone(), kind_of(&s.address).attrs(ctx, &s.desired, live))
        })
        .collect();

    let mut outcome = Outcome::default();
    let mut finished: HashSet<&Address> = HashSet::new();
    let mut blocked: HashSet<&Address> = HashSet::new();
    let mut started: HashSet<&Address> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let limit = ctx.settings.parallelism.max(1);
    // An interruption never abandons a call half-way: what runs finishes, nothing new starts, and
    // the summary says what was left (the next apply does it: names are identities).
    let stop = stop_requested();
    tokio::pin!(stop);

    loop {
        // Start whatever is ready, in plan order, up to the limit.
        for s in &plan.steps {
            if running.len() >= limit || outcome.interrupted {
                break;
            }
            let a = &s.address;
            if started.contains(a) || blocked.contains(a) {
                continue;
            }
            let w = &waits[a];
            if w.iter().any(|d| blocked.contains(*d)) {
                blocked.insert(a);
                outcome.skipped.push(a.clone());
                continue;
            }
            if !w.iter().all(|d| finished.contains(*d)) {
                continue;
            }
            started.insert(a);
            let snapshot = attrs.clone();
            running.push(async move {
                let t = Instant::now();
                let r = run_step(ctx, stack, s, &snapshot, progress).await;
                (s, r, t.elapsed())
            });
        }
        let next = tokio::select! {
            n = running.next() => n,
            _ = &mut stop, if !outcome.interrupted => {
                outcome.interrupted = true;
                progress.note("interrupted: finishing the steps in progress, starting no new ones");
                continue;
            }
        };
        let Some((s, result, elapsed)) = next else { break };
        match result {
            Ok(new_attrs) => {
                if s.is_change() {
                    progress.finished(s, elapsed);
                }
                if let Some(n) = new_attrs {
                    attrs.insert(s.address.clone(), n);
                }
                finished.insert(&s.address);
                outcome.done.push((s.address.clone(), s.action));
            }
            Err(e) => {
                progress.failed(s, elapsed);
                blocked.insert(&s.address);
                outcome.failed.push((s.address.clone(), e));
            }
        }
    }
    if outcome.interrupted {
        outcome.not_started = plan
            .steps
            .iter()
            .filter(|s| s.is_change() && !started.contains(&s.address) && !blocked.contains(&s.address))
            .map(|s| s.address.clone())
            .collect();
    }
    outcome
}

/// Carry out one step; returns the resource's attributes when they changed.
async fn run_step(ctx: &Ctx, stack: &Stack, step: &Step, attrs: &HashMap<Address, Attrs>, progress: &Progress) -> crate::Result<Option<Attrs>> {
    let kind = kind_of(&step.address);
    if step.is_change() {
        progress.started(step);
    }
    match step.action {
        Action::NoOp | Action::Unowned => Ok(None),
        Action::Delete => {
            let live = step.live.as_ref().expect("delete has a live resource");
            kind.delete(ctx, &step.desired, live).await?;
            Ok(None)
        }
        Action::Create => {
            // Resolve again: values that were "known after apply" in the plan are known now.
            let desired = desired_for(ctx, stack, &step.address, attrs)?;
            let got = kind.create(ctx, &desired).await?;
            for n in kind.notes_after_create(&desired) {
                progress.note(&format!("{}: {n}", step.address));
            }
            Ok(Some(merge(kind.attrs(ctx, &desired, None), got)))
        }
        Action::Replace => {
            let live = step.live.as_ref().expect("replace has a live resource");
            kind.delete(ctx, &step.desired, live).await?;
            let desired = desired_for(ctx, stack, &step.address, attrs)?;
            let got = kind.create(ctx, &desired).await?;
            Ok(Some(merge(kind.attrs(ctx, &desired, None), got)))
        }
        Action::Update => {
            let live = step.live.as_ref().expect("update has a live resource");
            let desired = desired_for(ctx, stack, &step.address, attrs)?;
            let changes = kind.diff(&desired, live);
            if !changes.is_empty() {
                kind.update(ctx, &desired, live, &changes).await?;
            }
            Ok(Some(kind.attrs(ctx, &desired, Some(live))))
        }
    }
}

fn merge(mut attrs: Attrs, got: BTreeMap<String, String>) -> Attrs {
    for (k, v) in got {
        attrs.insert(k, Some(v));
    }
    attrs
}
