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

/// `provision validate --json`, shaped like `terraform validate -json`: `valid`, `error_count`,
/// and every diagnostic with its file, line, column, message and help.
pub fn validation(result: &crate::Result<()>) -> String {
    use crate::Error;
    let diagnostics: Vec<serde_json::Value> = match result {
        Ok(()) => Vec::new(),
        Err(Error::Stack(d)) => {
            d.0.iter()
                .map(|d| {
                    serde_json::json!({
                        "severity": "error",
                        "message": d.message,
                        "help": d.help,
                        "file": d.loc.file.display().to_string(),
                        "line": d.loc.line,
                        "column": d.loc.col,
                    })
                })
                .collect()
        }
        Err(e) => vec![serde_json::json!({
            "severity": "error",
            "message": e.to_string(),
            "help": e.help(),
            "file": null,
            "line": null,
            "column": null,
        })],
    };
    let doc = serde_json::json!({
        "valid": diagnostics.is_empty(),
        "error_count": diagnostics.len(),
        "warning_count": 0,
        "diagnostics": diagnostics,
    });
    serde_json::to_string_pretty(&doc).expect("diagnostics are always serialisable")
}
