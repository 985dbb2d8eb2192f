//! Saved plans (`provision plan -out FILE`, `provision apply FILE`). The file is the approval, so
//! it is only carried out against what it was made from: the same stack files, account and region,
//! and, for every resource a step changes, the same live state. A change elsewhere does not block.

use crate::contract::{Ctx, Plan, Step, FORMAT_VERSION};
use crate::stack::Stack;
use crate::Error;
use std::path::Path;

const AGAIN: &str = "nothing was changed; run `provision plan -out FILE` again and review the new plan";

/// A saved plan is a few kilobytes; anything much bigger is not one.
const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// The file's text: the plan as JSON (live states are not in it, only their fingerprints).
pub fn to_text(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).expect("a plan is always serialisable") + "\n"
}

fn moved(what: String) -> crate::Result<()> {
    Err(Error::user(format!("the saved plan no longer applies: {what}"), AGAIN))
}

fn not_a_plan(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::user(format!("{} is not a saved plan: {why}", path.display()), "write one with `provision plan -out FILE`")
}

pub fn read(path: &Path) -> crate::Result<Plan> {
    let len = std::fs::metadata(path).map_err(|e| Error::user(format!("cannot read {}: {e}", path.display()), "check the path of the plan file"))?.len();
    if len > MAX_BYTES {
        return Err(not_a_plan(path, format!("it is {len} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::user(format!("cannot read {}: {e}", path.display()), "check the path of the plan file"))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| not_a_plan(path, e))?;
    match doc.get("format_version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(Error::user(
                format!("{} is a plan of format {v}; this provision reads format {FORMAT_VERSION}", path.display()),
                "make the plan again with this provision: `provision plan -out FILE`",
            ))
        }
        None => return Err(not_a_plan(path, "it has no `format_version`")),
    }
    serde_json::from_value(doc).map_err(|e| not_a_plan(path, e))
}

/// What the plan was made for, against what this run is about to touch. No AWS call.
pub fn check_origin(saved: &Plan, stack: &Stack, ctx: &Ctx) -> crate::Result<()> {
    if saved.stack != stack.name {
        return moved(format!("it is for stack `{}`, and the stack file is stack `{}`", saved.stack, stack.name));
    }
    if saved.source_digest != stack.digest {
        let files: Vec<String> = stack.files.iter().map(|f| f.display().to_string()).collect();
        return moved(format!("the stack file or a file it includes changed since the plan was made ({})", files.join(", ")));
    }
    where_to(saved, &ctx.account_id, &ctx.region)
}

fn where_to(saved: &Plan, account_id: &str, region: &str) -> crate::Result<()> {
    if saved.account_id != account_id {
        return moved(format!("it was made for account {}, and the credentials are for account {account_id}", saved.account_id));
    }
    if saved.region != region {
        return moved(format!("it was made for region {}, and this run is in region {region}", saved.region));
    }
    Ok(())
}

/// The steps of `fresh` (the same plan made again now) about the same resource as `s`.
fn same_resource<'a>(fresh: &'a Plan, s: &'a Step) -> impl Iterator<Item = &'a Step> {
    fresh.steps.iter().filter(move |f| f.address == s.address && f.identity == s.identity)
}

/// Compare the saved plan with the same plan made now: every step that changes something must
/// find its resource as it was (fingerprint) and resolve to the same values. Returns the saved
/// plan with what was read now attached (apply works on current reads, which are what was planned).
pub fn reconcile(mut saved: Plan, fresh: &Plan) -> crate::Result<Plan> {
    let mut changed: Vec<String> = Vec::new();
    for s in saved.steps.iter().filter(|s| s.is_change()) {
        let now: Vec<&Step> = same_resource(fresh, s).collect();
        if now.iter().any(|f| f.fingerprint == s.fingerprint && f.desired == s.desired) {
            continue;
        }
        let what = if now.iter().any(|f| f.fingerprint == s.fingerprint) {
            "resolves to other values (a `--var` or PROVISION_VAR_ value differs?)"
        } else if s.fingerprint.is_none() {
            "exists now"
        } else if now.iter().all(|f| f.live.is_none()) {
            "no longer exists"
        } else {
            "was changed outside provision"
        };
        changed.push(format!("{} ({}) {what}", s.address, s.name));
    }
    if !changed.is_empty() {
        moved(format!("since it was made, {}", changed.join("; ")))?;
    }
    let live: Vec<_> = saved
        .steps
        .iter()
        .map(|s| {
            let now: Vec<&Step> = same_resource(fresh, s).collect();
            now.iter().find(|f| f.fingerprint == s.fingerprint).or_else(|| now.first()).and_then(|f| f.live.clone())
        })
        .collect();
    for (s, l) in saved.steps.iter_mut().zip(live) {
        s.live = l;
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Action, Address, Found, Mode};
    use serde_json::json;

    fn found(description: &str) -> Found {
        Found {
            identity: "r".into(),
            state: json!({"name": "r", "description": description}),
            owner: Some("s".into()),
            address: None,
            created: None,
            attrs: Default::default(),
            notes: vec![],
        }
    }

    fn step(name: &str, action: Action, live: &Found) -> Step {
        Step {
            address: Address::new("thing", name),
            identity: "r".into(),
            name: name.into(),
            action,
            delete_reason: None,
            changes: vec![],
            reasons: vec![],
            owner: None,
            notes: vec![],
            deps: vec![],
            desired: Some(json!({"name": "r", "description": "want"})),
            live: Some(live.clone()),
            fingerprint: Some(live.fingerprint()),
            refresh: false,
        }
    }

    fn plan(steps: Vec<Step>) -> Plan {
        Plan {
            format_version: FORMAT_VERSION,
            stack: "s".into(),
            mode: Mode::Apply,
            account_id: "111111111111".into(),
            region: "us-east-1".into(),
            source_digest: "d".into(),
            partial: None,
            steps,
            notes: vec![],
            vars: vec![],
        }
    }

    /// What a saved plan holds once read back: fingerprints, no live states.
    fn saved(p: &Plan) -> Plan {
        serde_json::from_str(&to_text(p)).unwrap()
    }

    #[test]
    fn a_moved_touched_resource_refuses_and_an_untouched_one_does_not() {
        let (old, new) = (found("old"), found("meddled"));
        let made = plan(vec![step("a", Action::Update, &old), step("b", Action::NoOp, &old)]);
        let file = saved(&made);
        assert!(file.steps.iter().all(|s| s.live.is_none() && s.fingerprint.is_some()));

        let e = reconcile(file.clone(), &plan(vec![step("a", Action::Update, &new), step("b", Action::NoOp, &old)])).unwrap_err();
        assert!(e.to_string().contains("thing.a (a) was changed outside provision"), "{e}");
        assert!(!e.to_string().contains("thing.b"), "{e}");

        let ok = reconcile(file, &plan(vec![step("a", Action::Update, &old), step("b", Action::Update, &new)])).unwrap();
        assert_eq!(ok.steps[0].live.as_ref(), Some(&old));
        assert_eq!(ok.steps[1].live.as_ref(), Some(&new), "apply works on what was read now");
        assert_eq!(ok.steps[1].action, Action::NoOp, "the saved plan's steps, not the new plan's");
    }

    #[test]
    fn a_create_refuses_once_the_resource_exists_and_other_values_refuse() {
        let mut create = step("a", Action::Create, &found("x"));
        create.live = None;
        create.fingerprint = None;
        let file = saved(&plan(vec![create.clone()]));
        let e = reconcile(file.clone(), &plan(vec![step("a", Action::Update, &found("x"))])).unwrap_err();
        assert!(e.to_string().contains("thing.a (a) exists now"), "{e}");
        create.desired = Some(json!({"name": "r", "description": "other"}));
        let e = reconcile(file, &plan(vec![create])).unwrap_err();
        assert!(e.to_string().contains("resolves to other values"), "{e}");
    }

    #[test]
    fn another_account_or_region_refuses() {
        let p = plan(vec![]);
        assert!(where_to(&p, "111111111111", "us-east-1").is_ok());
        let e = where_to(&p, "222222222222", "us-east-1").unwrap_err();
        assert!(e.to_string().contains("made for account 111111111111, and the credentials are for account 222222222222"), "{e}");
        let e = where_to(&p, "111111111111", "eu-west-1").unwrap_err();
        assert!(e.to_string().contains("made for region us-east-1"), "{e}");
    }
}
