//! IAM policy documents compared by meaning, not by spelling.
//!
//! `canonical` rewrites a document into one normal form: statements as a sorted, de-duplicated
//! list; `Action`/`Resource`/principal/condition values as sorted, de-duplicated lists (IAM treats
//! `"x"` and `["x"]` alike); action names and condition key names in lower case (IAM matches them
//! without case); an empty `Sid` dropped; a bare account id principal spelled as IAM stores it
//! (`arn:aws:iam::ID:root`); `"Principal": "*"` as `{"AWS": ["*"]}`. Keys are sorted. Two documents
//! are equal when their canonical forms are. Documents are sent to IAM as the user wrote them, so
//! what IAM returns reads like the stack.

use serde_json::{Map, Value};

/// Parse a policy document as IAM returns it: URL-encoded JSON (GetRole, GetRolePolicy,
/// GetPolicyVersion) or plain JSON.
pub fn parse_iam_document(s: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str(s) {
        Ok(v) => Ok(v),
        Err(e) => {
            let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
            serde_json::from_str(&decoded).map_err(|_| e)
        }
    }
}

pub fn canonical(doc: &Value) -> Value {
    let Value::Object(map) = doc else { return doc.clone() };
    let mut out = Map::new();
    for (k, v) in map {
        if k == "Statement" {
            let stmts: Vec<Value> = match v {
                Value::Array(a) => a.iter().map(statement).collect(),
                other => vec![statement(other)],
            };
            out.insert(k.clone(), Value::Array(sorted_unique(stmts)));
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    sort_keys(out)
}

/// Rebuild a map with its keys in sorted order.
fn sort_keys(m: Map<String, Value>) -> Value {
    let sorted: std::collections::BTreeMap<String, Value> = m.into_iter().collect();
    Value::Object(sorted.into_iter().collect())
}

fn statement(s: &Value) -> Value {
    let Value::Object(map) = s else { return s.clone() };
    let mut out = Map::new();
    for (k, v) in map {
        match k.as_str() {
            "Sid" if v.as_str() == Some("") => {}
            "Action" | "NotAction" => {
                out.insert(k.clone(), lowercase(string_set(v)));
            }
            "Resource" | "NotResource" => {
                out.insert(k.clone(), string_set(v));
            }
            "Principal" | "NotPrincipal" => {
                out.insert(k.clone(), principal(v));
            }
            "Condition" => {
                out.insert(k.clone(), condition(v));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    sort_keys(out)
}

fn principal(v: &Value) -> Value {
    match v {
        Value::String(s) if s == "*" => principal(&serde_json::json!({"AWS": "*"})),
        Value::Object(m) => sort_keys(
            m.iter()
                .map(|(k, v)| {
                    let set = string_set(v);
                    let set = if k == "AWS" { account_ids_to_root(set) } else { set };
                    (k.clone(), set)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// IAM stores `"AWS": "123456789012"` as `arn:aws:iam::123456789012:root`.
fn account_ids_to_root(v: Value) -> Value {
    let Value::Array(a) = v else { return v };
    let a = a
        .into_iter()
        .map(|x| match x.as_str() {
            Some(s) if s.len() == 12 && s.chars().all(|c| c.is_ascii_digit()) => Value::String(format!("arn:aws:iam::{s}:root")),
            _ => x,
        })
        .collect();
    sorted_unique_value(a)
}

fn condition(v: &Value) -> Value {
    match v {
        Value::Object(ops) => sort_keys(
            ops.iter()
                .map(|(op, keys)| {
                    let keys = match keys {
                        Value::Object(km) => sort_keys(km.iter().map(|(k, v)| (k.to_ascii_lowercase(), string_set(v))).collect()),
                        other => other.clone(),
                    };
                    (op.clone(), keys)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A string or list of scalars → sorted, de-duplicated list of strings (IAM compares them as text:
/// a boolean condition value `true` and `"true"` are the same).
fn string_set(v: &Value) -> Value {
    let items: Vec<Value> = match v {
        Value::Array(a) => a.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    };
    sorted_unique_value(items)
}

fn scalar_text(v: &Value) -> Value {
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other.clone(),
    }
}

fn lowercase(v: Value) -> Value {
    let Value::Array(a) = v else { return v };
    sorted_unique_value(a.into_iter().map(|x| x.as_str().map(|s| Value::String(s.to_ascii_lowercase())).unwrap_or(x)).collect())
}

fn sorted_unique_value(items: Vec<Value>) -> Value {
    Value::Array(sorted_unique(items))
}

fn sorted_unique(mut items: Vec<Value>) -> Vec<Value> {
    items.sort_by_cached_key(|v| v.to_string());
    items.dedup();
    items
}

/// Shape rules IAM enforces before anything else.
pub fn check(doc: &Value) -> Result<(), String> {
    match doc.get("Statement") {
        None => Err("the policy document has no `Statement`".into()),
        Some(Value::Array(_) | Value::Object(_)) => Ok(()),
        Some(_) => Err("`Statement` must be a statement or a list of statements".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn eq(a: &Value, b: &Value) -> bool {
        canonical(a) == canonical(b)
    }

    #[test]
    fn string_and_one_element_list_are_equal() {
        let a = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:Describe*","Resource":"*"}]});
        let b = json!({"Statement":{"Resource":["*"],"Action":["eks:Describe*"],"Effect":"Allow"},"Version":"2012-10-17"});
        assert!(eq(&a, &b));
    }

    #[test]
    fn url_encoded_document_from_iam_parses_equal() {
        let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sts%3AAssumeRole%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        let a = parse_iam_document(enc).unwrap();
        let b = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole"],"Resource":"*"}]});
        assert!(eq(&a, &b));
    }

    #[test]
    fn empty_sid_and_account_id_principal_match_iam_storage() {
        let a = json!({"Statement":[{"Sid":"","Effect":"Allow","Principal":{"AWS":"180789647333"},"Action":"sts:AssumeRole"}]});
        let b = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::180789647333:root"},"Action":"sts:AssumeRole"}]});
        assert!(eq(&a, &b));
    }

    #[test]
    fn action_and_condition_key_case_and_star_principal_spellings_are_equal() {
        let a = json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:getobject","Resource":"*",
            "Condition":{"StringEquals":{"aws:SourceAccount":"1"}}}]});
        let b = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":"*",
            "Condition":{"StringEquals":{"aws:sourceaccount":["1"]}}}]});
        assert!(eq(&a, &b));
    }

    #[test]
    fn real_changes_are_differences() {
        let a = json!({"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]});
        let b = json!({"Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"*"}]});
        let c = json!({"Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}]});
        assert!(!eq(&a, &b));
        assert!(!eq(&a, &c));
    }

    fn action() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["s3:GetObject", "s3:PutObject", "ecr:*", "logs:CreateLogStream", "eks:Describe*", "sts:AssumeRole"]).prop_map(str::to_string)
    }
    fn resource() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["*", "arn:aws:s3:::b/*", "arn:aws:iam::1:role/r", "arn:aws:logs:*:*:*"]).prop_map(str::to_string)
    }
    fn stmt() -> impl Strategy<Value = (String, Vec<String>, Vec<String>)> {
        (
            prop::sample::select(vec!["Allow", "Deny"]).prop_map(str::to_string),
            prop::collection::btree_set(action(), 1..4).prop_map(|s| s.into_iter().collect()),
            prop::collection::btree_set(resource(), 1..3).prop_map(|s| s.into_iter().collect()),
        )
    }

    /// Spell a statement list in one of many equivalent shapes, driven by `shape` bits.
    fn spell(stmts: &[(String, Vec<String>, Vec<String>)], shape: u64) -> Value {
        let list = |v: &Vec<String>, bit: u64| -> Value {
            let mut v = v.clone();
            if shape & (bit << 1) != 0 {
                v.reverse();
            }
            if v.len() == 1 && shape & bit != 0 {
                Value::String(v[0].clone())
            } else {
                json!(v)
            }
        };
        let mut out: Vec<Value> = stmts
            .iter()
            .map(|(e, a, r)| {
                if shape & 16 != 0 {
                    json!({"Resource": list(r, 4), "Effect": e, "Action": list(a, 1)})
                } else {
                    json!({"Effect": e, "Action": list(a, 1), "Resource": list(r, 4)})
                }
            })
            .collect();
        if shape & 32 != 0 {
            out.reverse();
        }
        if out.len() == 1 && shape & 64 != 0 {
            json!({"Version": "2012-10-17", "Statement": out[0]})
        } else {
            json!({"Version": "2012-10-17", "Statement": out})
        }
    }

    proptest! {
        #[test]
        fn equal_documents_in_any_shape_have_no_diff(stmts in prop::collection::vec(stmt(), 1..4), s1 in 0u64..128, s2 in 0u64..128) {
            let a = spell(&stmts, s1);
            let b = spell(&stmts, s2);
            // Whitespace and key order in the text do not matter either.
            let b = parse_iam_document(&serde_json::to_string_pretty(&b).unwrap()).unwrap();
            prop_assert!(eq(&a, &b), "{a} vs {b}");
        }

        #[test]
        fn action_case_never_makes_a_diff(stmts in prop::collection::vec(stmt(), 1..4), s1 in 0u64..128, upper in any::<bool>()) {
            let a = spell(&stmts, s1);
            // IAM matches action names without case: a document with them all re-cased is equal.
            let recased: Vec<_> = stmts.iter().map(|(e, acts, r)| {
                let acts = acts.iter().map(|x| if upper { x.to_uppercase() } else { x.to_lowercase() }).collect();
                (e.clone(), acts, r.clone())
            }).collect();
            prop_assert!(eq(&a, &spell(&recased, s1)));
        }

        #[test]
        fn a_changed_action_or_resource_is_a_diff(stmts in prop::collection::vec(stmt(), 1..4), s1 in 0u64..128, which in 0usize..4, new_action in action(), new_res in resource()) {
            let a = spell(&stmts, s1);
            let mut changed = stmts.clone();
            let i = which % changed.len();
            if which % 2 == 0 {
                prop_assume!(!changed[i].1.contains(&new_action));
                changed[i].1 = vec![new_action];
            } else {
                prop_assume!(!changed[i].2.contains(&new_res));
                changed[i].2 = vec![new_res];
            }
            // Changing a statement can make it equal to another one already present; skip those.
            let set = |s: &Vec<(String, Vec<String>, Vec<String>)>| s.iter().map(|(e,a,r)| {
                let mut a = a.clone(); a.sort(); let mut r = r.clone(); r.sort(); (e.clone(), a, r)
            }).collect::<std::collections::BTreeSet<_>>();
            prop_assume!(set(&stmts) != set(&changed));
            let b = spell(&changed, s1);
            prop_assert!(!eq(&a, &b));
        }
    }
}
