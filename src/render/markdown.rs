//! The plan as a pull-request comment or a job summary (GitHub-flavoured Markdown): the verdict,
//! a table of what changes and why, and the full plan folded away in a `diff` block (its `+`, `-`
//! and `~` lines are what GitHub colours).

use super::{human, Style};
use crate::contract::{Action, DeleteReason, Mode, Plan};
use std::fmt::Write;

pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let what = match plan.mode {
        Mode::Apply => "plan",
        Mode::Destroy => "destroy plan",
    };
    let _ = writeln!(out, "### provision {what}: stack `{}` (account {}, region {})\n", plan.stack, plan.account_id, plan.region);
    let c = plan.counts();
    if plan.has_changes() {
        let _ = writeln!(out, "**Plan: {} to add, {} to change, {} to destroy.**\n", c.add, c.change, c.destroy);
    } else {
        let _ = writeln!(out, "**No changes.**\n");
    }
    let rows: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| {
            let action = match s.action {
                Action::Create => "create",
                Action::Update => "update",
                Action::Replace => "replace",
                Action::Delete => "destroy",
                Action::Unowned => "not owned: apply refuses",
                Action::NoOp => return None,
            };
            let why = match (&s.delete_reason, s.action) {
                (Some(DeleteReason::Removed), _) => "no longer in the stack file".to_string(),
                (Some(DeleteReason::Duplicate { .. }), _) => "a duplicate of the one that stays".to_string(),
                (_, Action::Replace) => s.reasons.join("; "),
                (_, Action::Update) => s.changes.iter().map(|c| c.path.clone()).collect::<Vec<_>>().join(", "),
                (_, Action::Unowned) => s.owner.as_ref().map(|o| format!("belongs to stack `{o}`")).unwrap_or_else(|| "has no ownership tag".into()),
                _ => String::new(),
            };
            Some(format!("| {action} | `{}` | {} | {} |", s.address, cell(&s.name), cell(&why)))
        })
        .collect();
    if !rows.is_empty() {
        let _ = writeln!(out, "| action | resource | name | why |\n|---|---|---|---|\n{}\n", rows.join("\n"));
    }
    let text = human::render(plan, Style { color: false });
    // A fence longer than any run of backticks in the text, so that nothing in it can close it.
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "<details><summary>The full plan</summary>\n\n{fence}diff\n{}\n{fence}\n\n</details>", text.trim_end());
    out
}

/// Table cells: one line, no `|` that would end the cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Address, Step};

    fn step(address: &str, name: &str, action: Action) -> Step {
        let a = Address::parse(address).unwrap();
        serde_json::from_value(serde_json::json!({"address": a, "identity": name, "name": name, "action": action})).unwrap()
    }

    #[test]
    fn a_plan_is_a_table_of_changes_and_the_full_plan_folded_away() {
        let mut plan: Plan = serde_json::from_value(serde_json::json!({
            "format_version": crate::contract::FORMAT_VERSION, "stack": "app", "mode": "apply", "account_id": "123456789012",
            "region": "us-east-1", "source_digest": "d", "steps": []
        }))
        .unwrap();
        let mut replaced = step("iam_policy.p", "odd|name", Action::Replace);
        replaced.reasons = vec!["path: cannot change in place".into()];
        plan.steps = vec![step("ecr_repository.app", "app", Action::Create), replaced, step("sns_topic.t", "t", Action::NoOp)];
        let md = render(&plan);
        assert!(
            md.starts_with("### provision plan: stack `app` (account 123456789012, region us-east-1)\n\n**Plan: 2 to add, 0 to change, 1 to destroy.**"),
            "{md}"
        );
        assert!(md.contains("| create | `ecr_repository.app` | app |  |"), "{md}");
        assert!(md.contains("| replace | `iam_policy.p` | odd\\|name | path: cannot change in place |"), "{md}");
        assert!(!md.contains("sns_topic.t` |"), "unchanged resources are not rows: {md}");
        assert!(md.contains("<details><summary>The full plan</summary>\n\n```diff\nprovision plan for stack app"), "{md}");
        assert!(md.trim_end().ends_with("```\n\n</details>"), "{md}");
    }
}
