//! Decide what to do with every resource: a pure function of the desired states, what the
//! inventory found in the account, and the mode. Unit-tested without any I/O.
//!
//! - A declared resource is matched to what the account holds by identity (`Schema::identity`).
//!   Kinds whose names are not unique match on identity + this stack's tag; of several, the one
//!   created first stays and the others are deleted as duplicates.
//! - No match but an owned resource recorded for this address (`provision:address`) with another
//!   identity: the identity changed, so that is a replace whose old resource goes away.
//! - Owned but no longer declared: deleted (`DeleteReason::Removed`), after everything else.
//! - A dependent of a resource replaced in place is read again before it is updated: what it
//!   held (an attachment) went with the old resource.

use super::diff;
use crate::contract::{Action, Address, DeleteReason, Found, Mode, Partial, Schema, Step};
use crate::stack::Guards;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A declared resource, resolved.
pub struct Want<'a> {
    pub address: Address,
    pub schema: &'static Schema,
    pub identity: String,
    pub desired: Value,
    pub deps: Vec<Address>,
    pub guards: &'a Guards,
    /// Notes to show when it is about to be created.
    pub create_notes: Vec<String>,
}

pub struct Input<'a> {
    pub stack: &'a str,
    pub mode: Mode,
    /// In dependency order.
    pub wants: Vec<Want<'a>>,
    /// What the inventory found, by kind.
    pub found: &'a BTreeMap<String, Vec<Found>>,
    /// The table of any kind (for resources the stack no longer declares).
    pub schema_of: &'a dyn Fn(&str) -> Option<&'static Schema>,
    pub partial: Option<&'a Partial>,
}

/// A plan that cannot be carried out as asked: a protected resource would go.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub address: Address,
    pub message: String,
}

/// The live resource holding `identity`, if any: for kinds with unique names whatever holds it;
/// otherwise the one of this stack created first, else someone else's.
pub fn matching<'f>(schema: &Schema, stack: &str, identity: &str, found: &'f [Found]) -> (Option<&'f Found>, Vec<&'f Found>) {
    let same: Vec<&Found> = found.iter().filter(|f| f.identity == identity).collect();
    let mut owned: Vec<&Found> = same.iter().copied().filter(|f| f.owner.as_deref() == Some(stack)).collect();
    if schema.unique || owned.is_empty() {
        return (owned.first().copied().or_else(|| same.first().copied()), Vec::new());
    }
    owned.sort_by_key(|f| duplicate_order(f));
    let keep = owned.remove(0);
    (Some(keep), owned)
}

/// Earliest creation first; the ARN breaks ties (and orders resources created before the tag).
fn duplicate_order(f: &Found) -> (String, String) {
    (f.created.clone().unwrap_or_else(|| "~".into()), f.attrs.get("arn").cloned().unwrap_or_default())
}

fn new_step(address: Address, identity: String, name: String, action: Action) -> Step {
    Step {
        address,
        identity,
        name,
        action,
        delete_reason: None,
        changes: Vec::new(),
        reasons: Vec::new(),
        owner: None,
        notes: Vec::new(),
        deps: Vec::new(),
        desired: None,
        live: None,
        fingerprint: None,
        refresh: false,
    }
}

fn with_live(mut s: Step, live: &Found) -> Step {
    s.fingerprint = Some(live.fingerprint());
    s.live = Some(live.clone());
    s
}

pub fn decide(input: Input) -> Result<Vec<Step>, Vec<Refusal>> {
    let mut claimed: HashSet<(String, String, Option<String>)> = HashSet::new();
    let key = |kind: &str, f: &Found| (kind.to_string(), f.identity.clone(), f.attrs.get("arn").cloned());
    let wanted: HashSet<(&str, &str)> = input.wants.iter().map(|w| (w.schema.kind, w.identity.as_str())).collect();
    let none = Vec::new();
    let mut steps = Vec::new();
    let mut duplicates = Vec::new();
    let mut refusals = Vec::new();

    for w in &input.wants {
        let kind = w.schema.kind;
        let found = input.found.get(kind).unwrap_or(&none);
        let (mut live, extra) = matching(w.schema, input.stack, &w.identity, found);
        let mut moved = false;
        if live.is_none() {
            // The identity changed: the stack's resource recorded for this address is replaced.
            live = found.iter().find(|f| {
                f.owner.as_deref() == Some(input.stack)
                    && f.address.as_deref() == Some(w.address.to_string().as_str())
                    && !wanted.contains(&(kind, f.identity.as_str()))
            });
            moved = live.is_some();
        }
        for d in extra {
            claimed.insert(key(kind, d));
            let mut s = with_live(new_step(w.address.clone(), d.identity.clone(), w.schema.name_of(&d.state), Action::Delete), d);
            s.delete_reason = Some(match input.mode {
                Mode::Apply => DeleteReason::Duplicate { keep: live.and_then(|l| l.attrs.get("arn").cloned()).unwrap_or_default() },
                Mode::Destroy => DeleteReason::Destroy,
            });
            duplicates.push(s);
        }
        if let Some(l) = live {
            claimed.insert(key(kind, l));
        }
        let mut s = new_step(w.address.clone(), w.identity.clone(), w.schema.name_of(&w.desired), Action::NoOp);
        s.deps = w.deps.clone();
        s.desired = Some(w.desired.clone());
        match (input.mode, live) {
            (Mode::Apply, None) => {
                s.action = Action::Create;
                s.notes = w.create_notes.clone();
            }
            (Mode::Destroy, None) => continue,
            (_, Some(l)) if l.owner.as_deref() != Some(input.stack) => {
                s = with_live(s, l);
                s.action = Action::Unowned;
                s.owner = l.owner.clone();
            }
            (Mode::Destroy, Some(l)) => {
                s = with_live(s, l);
                s.action = Action::Delete;
                s.delete_reason = Some(DeleteReason::Destroy);
                s.identity = l.identity.clone();
                s.name = w.schema.name_of(&l.state);
            }
            (Mode::Apply, Some(l)) => {
                s = with_live(s, l);
                s.notes = l.notes.clone();
                s.changes = diff::diff(w.schema, &w.desired, &l.state, &w.guards.ignore_changes);
                let mut reasons: Vec<String> = Vec::new();
                for c in &s.changes {
                    if let Some(why) = &c.replace {
                        let r = format!("`{}` cannot change in place: {why}", c.field());
                        if !reasons.contains(&r) {
                            reasons.push(r);
                        }
                    }
                }
                if moved && reasons.is_empty() {
                    reasons.push(format!("its identity changed from `{}`", l.identity));
                }
                s.action = if !reasons.is_empty() {
                    Action::Replace
                } else if s.changes.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                };
                s.reasons = reasons;
            }
        }
        if w.guards.protect && matches!(s.action, Action::Replace | Action::Delete) {
            let what = if s.action == Action::Replace { format!("replace it ({})", s.reasons.join("; ")) } else { "delete it".to_string() };
            refusals.push(Refusal {
                address: w.address.clone(),
                message: format!("{} is protected (`lifecycle: {{ protect: true }}`) and this plan would {what}", w.address),
            });
        }
        steps.push(s);
    }

    // A dependent of a resource replaced in place is read again and brought back to its state.
    let replaced: BTreeSet<Address> = steps.iter().filter(|s| s.action == Action::Replace && !s.moves()).map(|s| s.address.clone()).collect();
    for s in steps.iter_mut().filter(|s| matches!(s.action, Action::Update | Action::NoOp)) {
        let gone: Vec<String> = s.deps.iter().filter(|d| replaced.contains(*d)).map(|d| d.to_string()).collect();
        if !gone.is_empty() {
            s.refresh = true;
            s.action = Action::Update;
            s.notes.push(format!("read again and restored after {} is replaced (what it held there goes with the old one)", gone.join(", ")));
        }
    }

    // Owned, no longer declared.
    let mut orphans = Vec::new();
    for (kind, found) in input.found {
        let Some(schema) = (input.schema_of)(kind) else { continue };
        for f in found.iter().filter(|f| f.owner.as_deref() == Some(input.stack) && !claimed.contains(&key(kind, f))) {
            let address = f.address.as_deref().and_then(Address::parse).filter(|a| a.kind == *kind).unwrap_or_else(|| {
                let name: String = f.identity.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
                Address::new(kind.clone(), name)
            });
            let mut s = with_live(new_step(address, f.identity.clone(), schema.name_of(&f.state), Action::Delete), f);
            s.delete_reason = Some(match input.mode {
                Mode::Apply => DeleteReason::Removed,
                Mode::Destroy => DeleteReason::Destroy,
            });
            orphans.push((schema.rank, s));
        }
    }
    orphans.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.address.cmp(&b.1.address)));
    steps.extend(duplicates);
    steps.extend(orphans.into_iter().map(|(_, s)| s));

    if let Some(p) = input.partial {
        steps = partial(steps, p);
    }
    if refusals.is_empty() {
        Ok(steps)
    } else {
        Err(refusals)
    }
}

/// Keep the targets and what they depend on; drop the excluded and what depends on them.
fn partial(steps: Vec<Step>, p: &Partial) -> Vec<Step> {
    let deps: BTreeMap<&Address, &Vec<Address>> = steps.iter().map(|s| (&s.address, &s.deps)).collect();
    let mut keep: BTreeSet<Address> = steps.iter().map(|s| s.address.clone()).collect();
    if !p.targets.is_empty() {
        let mut closure: BTreeSet<Address> = BTreeSet::new();
        let mut todo: Vec<Address> = p.targets.clone();
        while let Some(a) = todo.pop() {
            if closure.insert(a.clone()) {
                todo.extend(deps.get(&a).map(|d| d.to_vec()).unwrap_or_default());
            }
        }
        keep.retain(|a| closure.contains(a));
    }
    if !p.excludes.is_empty() {
        let mut out: BTreeSet<Address> = p.excludes.iter().cloned().collect();
        loop {
            let more: Vec<Address> =
                steps.iter().filter(|s| !out.contains(&s.address) && s.deps.iter().any(|d| out.contains(d))).map(|s| s.address.clone()).collect();
            if more.is_empty() {
                break;
            }
            out.extend(more);
        }
        keep.retain(|a| !out.contains(a));
    }
    steps.into_iter().filter(|s| keep.contains(&s.address)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::schema::*;
    use serde_json::json;

    static THING: Schema = Schema {
        kind: "thing",
        summary: "",
        notes: "",
        fields: &[field("name", STRING, "").required().replace("names are fixed"), field("size", Ty::Int(0, 9), ""), TAGS],
        attributes: &[attr("arn", "")],
        identity: &["name"],
        unique: true,
        ownership: Ownership::Tags,
        rank: 1,
        not_found: &[],
        already_exists: &[],
    };
    static CONN: Schema = Schema { kind: "conn", unique: false, rank: 5, ..THING };

    fn schema_of(k: &str) -> Option<&'static Schema> {
        match k {
            "thing" => Some(&THING),
            "conn" => Some(&CONN),
            _ => None,
        }
    }

    fn found(name: &str, size: i64, owner: Option<&str>, address: Option<&str>) -> Found {
        Found {
            identity: name.into(),
            state: json!({"name": name, "size": size, "tags": {}}),
            owner: owner.map(str::to_string),
            address: address.map(str::to_string),
            created: None,
            attrs: BTreeMap::from([("arn".to_string(), format!("arn:{name}"))]),
            notes: vec![],
        }
    }

    fn want<'a>(schema: &'static Schema, name: &str, size: i64, deps: &[&str], guards: &'a Guards) -> Want<'a> {
        Want {
            address: Address::new(schema.kind, name),
            schema,
            identity: name.into(),
            desired: json!({"name": name, "size": size, "tags": {}}),
            deps: deps.iter().map(|d| Address::parse(d).unwrap()).collect(),
            guards,
            create_notes: vec![],
        }
    }

    fn run(mode: Mode, wants: Vec<Want>, found: Vec<Found>) -> Result<Vec<Step>, Vec<Refusal>> {
        let mut by_kind: BTreeMap<String, Vec<Found>> = BTreeMap::new();
        for f in found {
            let kind = if f.identity.starts_with('c') { "conn" } else { "thing" };
            by_kind.entry(kind.into()).or_default().push(f);
        }
        decide(Input { stack: "s", mode, wants, found: &by_kind, schema_of: &schema_of, partial: None })
    }

    fn actions(steps: &[Step]) -> Vec<(String, Action)> {
        steps.iter().map(|s| (s.address.to_string(), s.action)).collect()
    }

    #[test]
    fn create_update_noop_unowned() {
        let g = Guards::default();
        let wants = vec![want(&THING, "a", 1, &[], &g), want(&THING, "b", 2, &[], &g), want(&THING, "d", 1, &[], &g), want(&THING, "e", 1, &[], &g)];
        let steps = run(Mode::Apply, wants, vec![found("b", 3, Some("s"), None), found("d", 1, Some("s"), None), found("e", 1, Some("other"), None)]).unwrap();
        assert_eq!(
            actions(&steps),
            vec![("thing.a".into(), Action::Create), ("thing.b".into(), Action::Update), ("thing.d".into(), Action::NoOp), ("thing.e".into(), Action::Unowned)]
        );
        assert_eq!(steps[3].owner.as_deref(), Some("other"));
    }

    #[test]
    fn owned_but_no_longer_declared_is_deleted_last_and_foreign_is_untouched() {
        let g = Guards::default();
        let steps = run(
            Mode::Apply,
            vec![want(&THING, "a", 1, &[], &g)],
            vec![
                found("a", 1, Some("s"), None),
                found("old", 1, Some("s"), Some("thing.gone")),
                found("theirs", 1, Some("x"), None),
                found("c1", 1, Some("s"), None),
            ],
        )
        .unwrap();
        // Orphans by rank: the connection (rank 5) goes before the thing (rank 1).
        assert_eq!(actions(&steps), vec![("thing.a".into(), Action::NoOp), ("conn.c1".into(), Action::Delete), ("thing.gone".into(), Action::Delete)]);
        assert_eq!(steps[2].delete_reason, Some(DeleteReason::Removed));
    }

    #[test]
    fn an_identity_change_is_a_replace_of_the_recorded_resource() {
        let g = Guards::default();
        let steps = run(Mode::Apply, vec![want(&THING, "new", 1, &[], &g)], vec![found("old", 1, Some("s"), Some("thing.new"))]).unwrap();
        assert_eq!(actions(&steps), vec![("thing.new".into(), Action::Replace)]);
        assert!(steps[0].moves());
        assert_eq!(steps[0].reasons, vec!["`name` cannot change in place: names are fixed".to_string()]);
    }

    #[test]
    fn duplicates_of_non_unique_names_keep_the_earliest() {
        let g = Guards::default();
        let mut c1 = found("c", 1, Some("s"), None);
        c1.created = Some("2026-01-02".into());
        c1.attrs.insert("arn".into(), "arn:late".into());
        let mut c2 = found("c", 1, Some("s"), None);
        c2.created = Some("2026-01-01".into());
        c2.attrs.insert("arn".into(), "arn:early".into());
        let steps = run(Mode::Apply, vec![want(&CONN, "c", 1, &[], &g)], vec![c1, c2]).unwrap();
        assert_eq!(actions(&steps), vec![("conn.c".into(), Action::NoOp), ("conn.c".into(), Action::Delete)]);
        assert_eq!(steps[0].live.as_ref().unwrap().attrs["arn"], "arn:early");
        assert_eq!(steps[1].delete_reason, Some(DeleteReason::Duplicate { keep: "arn:early".into() }));
    }

    /// `thing` whose size can only be set at creation.
    static FIXED_SIZE: Schema = Schema {
        fields: &[field("name", STRING, "").required().replace("names are fixed"), field("size", Ty::Int(0, 9), "").replace("sizes are fixed"), TAGS],
        ..THING
    };

    #[test]
    fn dependents_of_a_replaced_resource_are_refreshed() {
        let g = Guards::default();
        let found = || vec![found("a", 1, Some("s"), None), found("b", 1, Some("s"), None)];
        let steps = run(Mode::Apply, vec![want(&FIXED_SIZE, "a", 1, &[], &g), want(&THING, "b", 1, &["thing.a"], &g)], found()).unwrap();
        assert_eq!(actions(&steps), vec![("thing.a".into(), Action::NoOp), ("thing.b".into(), Action::NoOp)]);
        let steps = run(Mode::Apply, vec![want(&FIXED_SIZE, "a", 2, &[], &g), want(&THING, "b", 1, &["thing.a"], &g)], found()).unwrap();
        assert_eq!(actions(&steps), vec![("thing.a".into(), Action::Replace), ("thing.b".into(), Action::Update)]);
        assert!(steps[1].refresh);
        assert!(steps[1].changes.is_empty(), "nothing differs yet: what differs is known once `a` is replaced");
    }

    #[test]
    fn destroy_deletes_owned_and_leaves_the_rest() {
        let g = Guards::default();
        let steps = run(
            Mode::Destroy,
            vec![want(&THING, "a", 1, &[], &g), want(&THING, "b", 1, &[], &g), want(&THING, "z", 1, &[], &g)],
            vec![found("a", 1, Some("s"), None), found("b", 1, None, None), found("orphan", 1, Some("s"), None)],
        )
        .unwrap();
        assert_eq!(actions(&steps), vec![("thing.a".into(), Action::Delete), ("thing.b".into(), Action::Unowned), ("thing.orphan".into(), Action::Delete)]);
    }

    #[test]
    fn protected_resources_refuse_delete_and_replace() {
        let g = Guards { protect: true, ignore_changes: vec![] };
        let r = run(Mode::Destroy, vec![want(&THING, "a", 1, &[], &g)], vec![found("a", 1, Some("s"), None)]).unwrap_err();
        assert!(r[0].message.contains("protected"), "{r:?}");
        let ok = run(Mode::Apply, vec![want(&THING, "a", 2, &[], &g)], vec![found("a", 1, Some("s"), None)]).unwrap();
        assert_eq!(ok[0].action, Action::Update);
    }

    #[test]
    fn partial_plans_keep_targets_with_their_dependencies_and_drop_excluded_dependents() {
        let g = Guards::default();
        let ws = || {
            vec![want(&THING, "a", 1, &[], &g), want(&THING, "b", 1, &["thing.a"], &g), want(&THING, "c", 1, &["thing.b"], &g), want(&THING, "d", 1, &[], &g)]
        };
        let by_kind = BTreeMap::new();
        let t = Partial { targets: vec![Address::new("thing", "b")], excludes: vec![] };
        let steps = decide(Input { stack: "s", mode: Mode::Apply, wants: ws(), found: &by_kind, schema_of: &schema_of, partial: Some(&t) }).unwrap();
        assert_eq!(actions(&steps).into_iter().map(|a| a.0).collect::<Vec<_>>(), vec!["thing.a", "thing.b"]);
        let x = Partial { targets: vec![], excludes: vec![Address::new("thing", "b")] };
        let steps = decide(Input { stack: "s", mode: Mode::Apply, wants: ws(), found: &by_kind, schema_of: &schema_of, partial: Some(&x) }).unwrap();
        assert_eq!(actions(&steps).into_iter().map(|a| a.0).collect::<Vec<_>>(), vec!["thing.a", "thing.d"]);
    }
}
