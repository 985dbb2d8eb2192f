//! Build a plan: resolve every resource, read what exists (all reads at once), and decide.
//! `decide` is pure: it takes desired and live state and returns the action; it is unit-tested
//! without any I/O.

use super::diff::FieldChange;
use super::resolve::{self, Env};
use super::{graph, Ctx};
use crate::resources::{self, Attrs, Desired, Kind, Live};
use crate::stack::{Address, Stack};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Delete and create again: an immutable field changed.
    Replace,
    Delete,
    NoOp,
    /// A same-named resource exists but is not this stack's: never touched.
    Unowned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    Destroy,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub address: Address,
    /// AWS identity (name) of the resource.
    pub name: String,
    pub action: Action,
    pub changes: Vec<FieldChange>,
    /// Why a replace is needed (one line per immutable field that changed).
    pub reasons: Vec<String>,
    /// For `Unowned`: whose it is (`None` = no ownership tag at all).
    pub owner: Option<String>,
    /// Status lines worth showing (not drift).
    pub notes: Vec<String>,
    pub deps: Vec<Address>,
    #[serde(skip)]
    pub desired: Desired,
    #[serde(skip)]
    pub live: Option<Live>,
}

impl Step {
    pub fn is_change(&self) -> bool {
        !matches!(self.action, Action::NoOp | Action::Unowned)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub mode: Mode,
    pub account_id: String,
    pub region: String,
    /// In dependency order (dependencies first).
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    pub unowned: usize,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.steps {
            match s.action {
                Action::Create => c.add += 1,
                Action::Update => c.change += 1,
                Action::Replace => {
                    c.add += 1;
                    c.destroy += 1
                }
                Action::Delete => c.destroy += 1,
                Action::Unowned => c.unowned += 1,
                Action::NoOp => {}
            }
        }
        c
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(Step::is_change)
    }

    pub fn unowned(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.action == Action::Unowned)
    }
}

/// Decide what to do with one resource. Pure.
pub fn decide(kind: &dyn Kind, stack: &str, desired: &Desired, live: Option<&Live>) -> (Action, Vec<FieldChange>, Vec<String>) {
    let Some(live) = live else { return (Action::Create, Vec::new(), Vec::new()) };
    if live.owner.as_deref() != Some(stack) {
        return (Action::Unowned, Vec::new(), Vec::new());
    }
    let changes = kind.diff(desired, live);
    if changes.is_empty() {
        return (Action::NoOp, changes, Vec::new());
    }
    let mut reasons = Vec::new();
    for (field, why) in kind.immutable() {
        if changes.iter().any(|c| c.field() == *field) {
            reasons.push(format!("`{field}` cannot change in place: {why}"));
        }
    }
    let action = if reasons.is_empty() { Action::Update } else { Action::Replace };
    (action, changes, reasons)
}

/// Resolve the properties of `address` against the attributes known so far.
pub fn desired_for(ctx: &Ctx, stack: &Stack, address: &Address, attrs: &HashMap<Address, Attrs>) -> crate::Result<Desired> {
    let r = stack.resource(address).expect("address from this stack");
    let env = Env { stack, account_id: &ctx.account_id, region: &ctx.region, attrs };
    let props = resolve::resolve(&r.props, &env);
    kind_of(address).desired(ctx, &props)
}

pub fn kind_of(address: &Address) -> &'static dyn Kind {
    resources::lookup(&address.kind).expect("kinds are checked at load time")
}

/// Read every resource concurrently (bounded by `settings.parallelism`).
async fn read_all(ctx: &Ctx, wanted: Vec<(Address, Desired)>) -> crate::Result<HashMap<Address, Option<Live>>> {
    let results: Vec<_> = stream::iter(wanted)
        .map(|(a, d)| async move {
            let live = kind_of(&a).read(ctx, &d).await;
            (a, live)
        })
        .buffer_unordered(ctx.settings.parallelism.max(1) * 2)
        .collect()
        .await;
    let mut out = HashMap::new();
    for (a, live) in results {
        out.insert(a, live?);
    }
    Ok(out)
}

/// Plan `apply` (mode Apply) or `destroy` (mode Destroy) for a stack.
pub async fn plan(ctx: &Ctx, stack: &Stack, mode: Mode) -> crate::Result<Plan> {
    let order = graph::topo_order(stack);

    // 1. Names first: resolve with what is known without reading (deterministic ARNs and names),
    //    so that every read can go out at once.
    let mut attrs: HashMap<Address, Attrs> = HashMap::new();
    let mut first: Vec<(Address, Desired)> = Vec::new();
    for a in &order {
        let d = desired_for(ctx, stack, a, &attrs)?;
        attrs.insert(a.clone(), kind_of(a).attrs(ctx, &d, None));
        first.push((a.clone(), d));
    }
    let mut lives = read_all(ctx, first.clone()).await?;

    // 2. Now with live attributes (e.g. the ARN of an existing connection), in dependency order.
    attrs.clear();
    let mut steps = Vec::new();
    for (a, d0) in &first {
        let kind = kind_of(a);
        let desired = desired_for(ctx, stack, a, &attrs)?;
        if desired.name != d0.name {
            // The name depended on something only known after reading: read again.
            let again = read_all(ctx, vec![(a.clone(), desired.clone())]).await?;
            lives.extend(again);
        }
        let live = lives.remove(a).flatten();
        let (action, changes, reasons) = match mode {
            Mode::Apply => decide(kind, &ctx.stack, &desired, live.as_ref()),
            Mode::Destroy => match &live {
                None => (Action::NoOp, Vec::new(), Vec::new()),
                Some(l) if l.owner.as_deref() == Some(ctx.stack.as_str()) => (Action::Delete, Vec::new(), Vec::new()),
                Some(_) => (Action::Unowned, Vec::new(), Vec::new()),
            },
        };
        // A replacement gets fresh identifiers: only what follows from the desired state is known.
        let a_attrs = match action {
            Action::Replace => kind.attrs(ctx, &desired, None),
            _ => kind.attrs(ctx, &desired, live.as_ref()),
        };
        attrs.insert(a.clone(), a_attrs);
        if mode == Mode::Destroy && action == Action::NoOp {
            continue;
        }
        let notes = match (&live, action) {
            (Some(l), _) => l.notes.clone(),
            (None, Action::Create) => kind.notes_after_create(&desired),
            (None, _) => Vec::new(),
        };
        let owner = live.as_ref().and_then(|l| l.owner.clone());
        let deps = stack.resource(a).map(|r| r.deps.iter().cloned().collect()).unwrap_or_default();
        steps.push(Step { address: a.clone(), name: desired.name.clone(), action, changes, reasons, owner, notes, deps, desired, live });
    }
    Ok(Plan { stack: stack.name.clone(), mode, account_id: ctx.account_id.clone(), region: ctx.region.clone(), steps })
}

