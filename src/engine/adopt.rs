//! `provision adopt ADDRESS`: make a live resource that holds a declared resource's name, but is
//! not this stack's, the stack's own, by adding the ownership tags. Nothing else about it changes
//! here: the next plan shows how it differs from the stack.

use super::diff;
use crate::contract::schema::Ownership;
use crate::contract::{Action, Address, Ctx, FieldChange, Found, Op, Plan, Registry, Silent, Status, Step, Tags, ADDRESS_TAG, OWNER_TAG};
use crate::stack::Stack;
use crate::Error;

/// A resource that may be adopted: its step in the plan, its live state, and how it differs.
pub struct Candidate<'p> {
    pub step: &'p Step,
    pub live: &'p Found,
    pub changes: Vec<FieldChange>,
}

/// The step for `address` in an apply plan, if it can be adopted: it exists, it is not this
/// stack's, and it is nobody's (or `from_stack`'s, when given).
pub fn candidate<'p>(plan: &'p Plan, stack: &Stack, registry: &dyn Registry, address: &Address, from_stack: Option<&str>) -> crate::Result<Candidate<'p>> {
    let r = stack.resource(address).ok_or_else(|| {
        let known: Vec<String> = stack.resources.iter().map(|r| r.address.to_string()).collect();
        Error::user(format!("{address} is not a resource of stack `{}`", stack.name), format!("the stack declares: {}", known.join(", ")))
    })?;
    let kind = registry.get(&address.kind).ok_or_else(|| Error::internal(format!("no kind `{}`", address.kind)))?;
    if kind.schema().ownership == Ownership::Record {
        return Err(Error::user(
            format!("adopting a `{}` is not supported: its owner is recorded with the entry, not in a tag", address.kind),
            "remove the entry by hand, then `provision apply` adds it again as this stack's",
        ));
    }
    let step = plan.steps.iter().find(|s| &s.address == address && s.desired.is_some()).ok_or_else(|| Error::internal(format!("no step for {address}")))?;
    let live = match (step.action, &step.live) {
        (Action::Unowned, Some(l)) => l,
        (Action::Create, _) => {
            return Err(Error::user(format!("there is nothing to adopt for {address}: {} does not exist", step.name), "`provision apply` creates it"))
        }
        _ => return Err(Error::user(format!("{address} ({}) is already stack `{}`'s", step.name, plan.stack), "nothing to do; `provision plan` shows it")),
    };
    match (&step.owner, from_stack) {
        (None, None) => {}
        (Some(o), Some(f)) if o == f => {}
        (Some(o), None) => {
            return Err(Error::user(
                format!("{address} ({}) belongs to stack `{o}`", step.name),
                format!("if stack `{o}` no longer manages it, take it over with `provision adopt {address} --from-stack {o}`"),
            ))
        }
        (Some(o), Some(f)) => {
            return Err(Error::user(
                format!("{address} ({}) belongs to stack `{o}`, not `{f}`", step.name),
                format!("pass `--from-stack {o}` if that is meant"),
            ))
        }
        (None, Some(f)) => {
            return Err(Error::user(
                format!("{address} ({}) belongs to no stack, not `{f}`", step.name),
                format!("drop `--from-stack`: `provision adopt {address}`"),
            ))
        }
    }
    let desired = step.desired.as_ref().expect("a declared step");
    let changes = diff::diff(kind.schema(), desired, &live.state, &r.guards.ignore_changes);
    Ok(Candidate { step, live, changes })
}

/// Tag it as this stack's resource at its address.
pub async fn adopt(ctx: &Ctx, registry: &dyn Registry, c: &Candidate<'_>) -> crate::Result<()> {
    let address = &c.step.address;
    let kind = registry.get(&address.kind).ok_or_else(|| Error::internal(format!("no kind `{}`", address.kind)))?;
    let status = Status::default();
    // Tagging reports nothing worth a line.
    let op = Op { ctx, address, status: &status, observer: &Silent };
    let set: Tags = [(OWNER_TAG.to_string(), ctx.stack.clone()), (ADDRESS_TAG.to_string(), address.to_string())].into();
    kind.tag(&op, c.live, &set, &[]).await.map_err(|e| e.at(address))
}
