//! Field-level comparison of a desired and a live state (both canonical JSON of the same shape).
//!
//! Rules: a `null` in the desired state means "not set in the stack": AWS's value is accepted.
//! Mappings are compared key by key (so a tag or inline policy that exists only live is a change);
//! everything else is compared whole.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `environment.privileged_mode` or `tags.team`.
    pub path: String,
    /// Live value (`null` = absent).
    pub before: Value,
    /// Desired value (`null` = to be removed).
    pub after: Value,
}

impl FieldChange {
    /// The top-level field this change belongs to.
    pub fn field(&self) -> &str {
        self.path.split('.').next().unwrap_or(&self.path)
    }
}

pub fn fields(desired: &Value, live: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk("", desired, live, &mut out);
    out
}

fn walk(path: &str, desired: &Value, live: &Value, out: &mut Vec<FieldChange>) {
    match (desired, live) {
        (Value::Null, _) => {}
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let lv = l.get(k).unwrap_or(&Value::Null);
                walk(&join(path, k), dv, lv, out);
            }
            for (k, lv) in l {
                if !d.contains_key(k) && !lv.is_null() {
                    out.push(FieldChange { path: join(path, k), before: lv.clone(), after: Value::Null });
                }
            }
        }
        (d, l) if d != l => out.push(FieldChange { path: path.to_string(), before: l.clone(), after: d.clone() }),
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unset_fields_are_not_compared() {
        let d = json!({"name": "r", "scan_on_push": null});
        let l = json!({"name": "r", "scan_on_push": false});
        assert!(fields(&d, &l).is_empty());
    }

    #[test]
    fn changed_scalar_is_one_change() {
        let d = json!({"mutability": "IMMUTABLE"});
        let l = json!({"mutability": "MUTABLE"});
        assert_eq!(
            fields(&d, &l),
            vec![FieldChange { path: "mutability".into(), before: json!("MUTABLE"), after: json!("IMMUTABLE") }]
        );
    }

    #[test]
    fn maps_compare_per_key_including_live_only_keys() {
        let d = json!({"tags": {"a": "1", "b": "2"}});
        let l = json!({"tags": {"a": "1", "b": "3", "c": "4"}});
        let c = fields(&d, &l);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].path, "tags.b");
        assert_eq!(c[1], FieldChange { path: "tags.c".into(), before: json!("4"), after: Value::Null });
    }

    #[test]
    fn lists_compare_whole() {
        let d = json!({"groups": ["a", "b"]});
        let l = json!({"groups": ["b", "a"]});
        assert_eq!(fields(&d, &l).len(), 1);
        assert_eq!(fields(&d, &l)[0].path, "groups");
    }

    #[test]
    fn nested_struct_changes_have_dotted_paths() {
        let d = json!({"environment": {"privileged_mode": true, "image": "x", "compute_type": null}});
        let l = json!({"environment": {"privileged_mode": false, "image": "x", "compute_type": "BUILD_GENERAL1_SMALL"}});
        let c = fields(&d, &l);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "environment.privileged_mode");
        assert_eq!(c[0].field(), "environment");
    }
}
