//! Machine-readable plan (`provision plan --json`): addresses as `kind.name`, resolved desired
//! values for creates, before/after for every change. Names, ARNs-to-be and field values from
//! the stack and from AWS; never credentials.

use crate::contract::Plan;

pub fn render(plan: &Plan) -> String {
    let doc = serde_json::json!({
        "format_version": plan.format_version,
        "plan": plan,
        "summary": plan.counts(),
        "has_changes": plan.has_changes(),
    });
    serde_json::to_string_pretty(&doc).expect("a plan is always serialisable")
}
