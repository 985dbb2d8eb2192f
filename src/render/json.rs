//! Machine-readable plan (`provision plan --json`). It holds names, ARNs-to-be and field values from
//! the stack and from AWS, never credentials.

use crate::engine::plan::Plan;

pub fn render(plan: &Plan) -> String {
    let doc = serde_json::json!({
        "format_version": 1,
        "plan": plan,
        "summary": plan.counts(),
        "has_changes": plan.has_changes(),
    });
    serde_json::to_string_pretty(&doc).expect("a plan is always serialisable")
}
