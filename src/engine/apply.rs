//! Carry out a plan, exactly: each step does what the plan says, to the resource the plan read.
//! Values that were "known after apply" are filled in as their resources are created; if a filled
//! value would change a decision, the step stops and says the plan is stale. The order and the
//! handling of failures and interruptions are the scheduler's (`schedule`); what a node does is
//! here. Every operation is idempotent and names are identities, so an apply that stopped half
//! way is finished by the next plan.

use super::diff;
use super::graph::{self, Node, Phase};
use super::plan::desired;
use super::schedule;
use crate::aws::Reads;
use crate::contract::schema::Ownership;
use crate::contract::{
    Action, Address, Attrs, Ctx, FieldChange, Found, Kind, Observer, Op, Plan, Registry, Status, Step, ADDRESS_TAG, CREATED_TAG, OWNER_TAG,
    RESERVED_TAG_PREFIX, UNKNOWN,
};
use crate::stack::Stack;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Outcome {
    /// Steps that made a change, in completion order.
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
pub async fn stop_requested() {
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

struct Run<'a> {
    ctx: &'a Ctx,
    stack: &'a Stack,
    registry: &'a dyn Registry,
    plan: &'a Plan,
    observer: &'a dyn Observer,
    /// Attributes as they become known; the starting point is what the plan saw.
    attrs: Mutex<HashMap<Address, Attrs>>,
}

pub async fn apply(
    ctx: &Ctx,
    stack: &Stack,
    registry: &dyn Registry,
    plan: &Plan,
    observer: &dyn Observer,
    stop: impl std::future::Future<Output = ()>,
) -> Outcome {
    let rank = |k: &str| registry.get(k).map(|k| k.schema().rank).unwrap_or(0);
    let (nodes, waits) = graph::nodes(plan, rank);
    let mut attrs = HashMap::new();
    for s in plan.steps.iter().filter(|s| s.desired.is_some()) {
        let Some(kind) = registry.get(&s.address.kind) else { continue };
        let live = match s.action {
            Action::Create | Action::Replace => None,
            _ => s.live.as_ref(),
        };
        if let Ok(a) = kind.attrs(ctx, s.desired.as_ref().expect("declared"), live) {
            attrs.insert(s.address.clone(), a);
        }
    }
    let run = Run { ctx, stack, registry, plan, observer, attrs: Mutex::new(attrs) };
    let out = schedule::run(&waits, ctx.settings.parallelism, |n| run.node(nodes[n]), async {
        stop.await;
        observer.note("interrupted: finishing the steps in progress, starting no new ones");
    })
    .await;

    let address = |n: usize| plan.steps[nodes[n].step].address.clone();
    let changes = |n: &usize| plan.steps[nodes[*n].step].is_change();
    Outcome {
        done: out.done.iter().filter(|n| changes(n) && nodes[**n].phase == Phase::Main).map(|&n| (address(n), plan.steps[nodes[n].step].action)).collect(),
        failed: out.failed.into_iter().map(|(n, e)| (address(n), e)).collect(),
        skipped: out.skipped.iter().filter(|n| changes(n)).map(|&n| address(n)).collect(),
        interrupted: out.interrupted,
        not_started: out.not_started.iter().filter(|n| changes(n)).map(|&n| address(n)).collect(),
    }
}

/// A value planned with `(known after apply)` in it may now hold anything there; elsewhere it
/// must be what was planned.
fn consistent(planned: &Value, now: &Value) -> bool {
    match (planned, now) {
        (Value::String(s), _) if s == UNKNOWN => true,
        (Value::Object(a), Value::Object(b)) => a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| consistent(v, w))),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(v, w)| consistent(v, w)),
        _ => planned == now,
    }
}

fn stale(what: impl std::fmt::Display) -> crate::Error {
    crate::Error::user(format!("the plan is stale: {what}"), "nothing was changed for this resource; run `provision plan` again and review the new plan")
}

impl Run<'_> {
    async fn node(&self, node: Node) -> crate::Result<()> {
        let step = &self.plan.steps[node.step];
        if !step.is_change() {
            return Ok(());
        }
        // The service is the kind's first word (iam_role -> iam, eks_access_entry -> eks).
        let service = step.address.kind.split('_').next().unwrap_or_default();
        let _slot = self.ctx.shared.limits.acquire(service).await;
        let status = Status::default();
        self.observer.started(step);
        let start = Instant::now();
        let work = self.execute(step, node.phase, &status);
        tokio::pin!(work);
        let after = |secs| tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(secs), Duration::from_secs(secs));
        let (mut beat, mut look) = (after(10), after(1));
        let mut seen = None;
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                _ = beat.tick() => self.observer.still_running(step, start.elapsed(), status.get().as_deref()),
                _ = look.tick() => {
                    let now = status.get();
                    if now != seen {
                        self.observer.waiting(step, now.as_deref());
                        seen = now;
                    }
                }
            }
        };
        let result = result.map_err(|e| e.at(&step.address));
        match &result {
            Ok(()) => self.observer.finished(step, start.elapsed()),
            Err(e) => self.observer.failed(step, start.elapsed(), e),
        }
        result
    }

    fn kind(&self, step: &Step) -> crate::Result<&'static dyn Kind> {
        self.registry.get(&step.address.kind).ok_or_else(|| crate::Error::internal(format!("no kind `{}`", step.address.kind)))
    }

    /// The desired state now: references resolved with what this apply has learnt so far.
    fn desired_now(&self, step: &Step) -> crate::Result<Value> {
        let r = self.stack.resource(&step.address).ok_or_else(|| stale(format!("{} is no longer in the stack", step.address)))?;
        let kind = self.kind(step)?;
        let attrs = self.attrs.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let now = desired(self.ctx, self.stack, r, kind, &attrs)?;
        match &step.desired {
            Some(planned) if !consistent(planned, &now) => Err(stale(format!("{} resolved differently than planned", step.address))),
            _ => Ok(now),
        }
    }

    fn learn(&self, address: &Address, attrs: Attrs) {
        self.attrs.lock().unwrap_or_else(|e| e.into_inner()).insert(address.clone(), attrs);
    }

    async fn execute(&self, step: &Step, phase: Phase, status: &Status) -> crate::Result<()> {
        let kind = self.kind(step)?;
        let op = Op { ctx: self.ctx, address: &step.address, status, observer: self.observer };
        let live = step.live.as_ref();
        match (phase, step.action) {
            (Phase::RemoveOld, _) => self.delete(kind, &op, live.expect("a replace has the old resource"), None).await,
            (_, Action::Delete) => self.delete(kind, &op, live.expect("a delete has a live resource"), step.desired.as_ref()).await,
            (_, Action::Create) => self.create(kind, &op, step).await,
            (_, Action::Replace) => {
                let desired = self.desired_now(step)?;
                if !step.moves() {
                    self.delete(kind, &op, live.expect("a replace has the old resource"), Some(&desired)).await?;
                }
                self.create(kind, &op, step).await
            }
            (_, Action::Update) => self.update(kind, &op, step).await,
            (_, Action::NoOp | Action::Unowned) => Ok(()),
        }
    }

    async fn delete(&self, kind: &dyn Kind, op: &Op<'_>, live: &Found, desired: Option<&Value>) -> crate::Result<()> {
        match kind.delete(op, live, desired).await {
            Err(e) if e.code().is_some_and(|c| kind.schema().not_found.contains(&c)) => Ok(()),
            r => r,
        }
    }

    /// Read one resource again, as the inventory would.
    async fn read(&self, kind: &dyn Kind, desired: &Value) -> crate::Result<Option<Found>> {
        let schema = kind.schema();
        let found = kind.inventory(self.ctx, &Reads::new(&self.ctx.stack), std::slice::from_ref(desired)).await?;
        let (live, _) = super::decide::matching(schema, &self.ctx.stack, &schema.identity_of(desired), &found);
        Ok(live.cloned())
    }

    async fn create(&self, kind: &dyn Kind, op: &Op<'_>, step: &Step) -> crate::Result<()> {
        let schema = kind.schema();
        let desired = self.desired_now(step)?;
        let mut state = desired.clone();
        if schema.ownership == Ownership::Tags {
            // Ownership is part of the create call: no window in which the resource is not ours.
            let tags = state["tags"].as_object_mut().ok_or_else(|| crate::Error::internal(format!("{}: no tags in the state", schema.kind)))?;
            tags.insert(OWNER_TAG.into(), Value::String(self.ctx.stack.clone()));
            tags.insert(ADDRESS_TAG.into(), Value::String(step.address.to_string()));
            if !schema.unique {
                let now = time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
                tags.insert(CREATED_TAG.into(), Value::String(now));
            }
        }
        let got = match kind.create(op, &state).await {
            Ok(got) => got,
            Err(e) if e.code().is_some_and(|c| schema.already_exists.contains(&c)) => {
                // Taken since the plan: by a concurrent run of this stack (then it is ours, and
                // this run converges on it), or by someone else (then it is not ours to touch).
                match self.read(kind, &desired).await? {
                    Some(l) if l.owner.as_deref() == Some(self.ctx.stack.as_str()) => {
                        self.observer.note(&format!("{}: created meanwhile by another run of stack {}; using it", step.address, self.ctx.stack));
                        self.converge(kind, op, step, &desired, &l).await?;
                        self.learn(&step.address, kind.attrs(self.ctx, &desired, Some(&l))?);
                        return Ok(());
                    }
                    _ => return Err(e.with_help(format!("`{}` was created by someone else since the plan; plan again", step.identity))),
                }
            }
            Err(e) => return Err(e),
        };
        let mut attrs = kind.attrs(self.ctx, &desired, None)?;
        for (k, v) in got {
            attrs.insert(k, Some(v));
        }
        if !schema.unique {
            // Names are not unique: if a concurrent run created one too, the earliest stays.
            if let Some(winner) = self.read(kind, &desired).await? {
                let ours = attrs.get("arn").cloned().flatten();
                if winner.attrs.get("arn") != ours.as_ref() {
                    let found = kind.inventory(self.ctx, &Reads::new(&self.ctx.stack), std::slice::from_ref(&desired)).await?;
                    if let Some(mine) = found.iter().find(|f| f.attrs.get("arn") == ours.as_ref()) {
                        self.delete(kind, op, mine, None).await?;
                    }
                    self.observer
                        .note(&format!("{}: another run of stack {} created one first; using it and removing this run's", step.address, self.ctx.stack));
                    attrs = kind.attrs(self.ctx, &desired, Some(&winner))?;
                }
            }
        }
        for n in kind.notes(self.ctx, &desired) {
            self.observer.note(&format!("{}: {n}", step.address));
        }
        self.learn(&step.address, attrs);
        Ok(())
    }

    async fn update(&self, kind: &dyn Kind, op: &Op<'_>, step: &Step) -> crate::Result<()> {
        let desired = self.desired_now(step)?;
        let live = if step.refresh {
            self.read(kind, &desired).await?.ok_or_else(|| stale(format!("{} no longer exists", step.identity)))?
        } else {
            step.live.clone().ok_or_else(|| crate::Error::internal("an update without a live resource"))?
        };
        if !step.refresh {
            let ignore = self.stack.resource(&step.address).map(|r| r.guards.ignore_changes.clone()).unwrap_or_default();
            let changes = diff::diff(kind.schema(), &desired, &live.state, &ignore);
            if let Some(c) = changes.iter().find(|c| !step.changes.iter().any(|p| p.path == c.path)) {
                return Err(stale(format!("`{}` of {} would change too, which the plan did not show", c.path, step.address)));
            }
        }
        self.converge(kind, op, step, &desired, &live).await?;
        self.learn(&step.address, kind.attrs(self.ctx, &desired, Some(&live))?);
        Ok(())
    }

    /// Bring an owned resource to `desired`: its tags through the service's tagging calls, the rest
    /// through the kind's update.
    async fn converge(&self, kind: &dyn Kind, op: &Op<'_>, step: &Step, desired: &Value, live: &Found) -> crate::Result<()> {
        let ignore = self.stack.resource(&step.address).map(|r| r.guards.ignore_changes.clone()).unwrap_or_default();
        let changes = diff::diff(kind.schema(), desired, &live.state, &ignore);
        let (tags, rest): (Vec<FieldChange>, Vec<FieldChange>) = changes.into_iter().partition(|c| c.field() == "tags");
        // The update first: services whose update resends every field (CodeBuild) then do not undo
        // the tag change.
        if !rest.is_empty() {
            let effective = diff::effective(kind.schema(), desired, &live.state, &rest);
            kind.update(op, &effective, live).await?;
        }
        if !tags.is_empty() {
            let user = |v: &Value| -> BTreeMap<String, String> {
                v["tags"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX))
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let (want, have) = (user(desired), user(&live.state));
            let set = want.iter().filter(|(k, v)| have.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
            let remove: Vec<String> = have.keys().filter(|k| !want.contains_key(*k)).cloned().collect();
            kind.tag(op, live, &set, &remove).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_unknowns_may_resolve_differently() {
        let planned = json!({"a": "x", "b": UNKNOWN, "c": [UNKNOWN, "y"]});
        assert!(consistent(&planned, &json!({"a": "x", "b": "arn:1", "c": ["arn:2", "y"]})));
        assert!(!consistent(&planned, &json!({"a": "z", "b": "arn:1", "c": ["arn:2", "y"]})));
        assert!(!consistent(&planned, &json!({"a": "x", "b": "arn:1", "c": ["arn:2"]})));
    }
}
