//! Field-level comparison of a desired and a live state, driven by the kind's field table.
//!
//! - A field the stack leaves to AWS (`null` in the desired state) is not compared.
//! - Behaviour fields (`force_destroy`) and `lifecycle.ignore_changes` fields are never compared.
//! - Maps and tags compare key by key, so a key that exists only live is a change (a removal);
//!   tag keys starting with `provision:` are provision's own and never compared.
//! - Documents compare by their normal form; sets without order; structs field by field (dotted
//!   paths); everything else whole.

use crate::contract::schema::{Change, Field, Schema, Ty, Unset};
use crate::contract::{FieldChange, RESERVED_TAG_PREFIX};
use serde_json::{Map, Value};

pub fn diff(schema: &Schema, desired: &Value, live: &Value, ignore: &[String]) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for f in schema.fields.iter().filter(|f| !ignore.iter().any(|i| i == f.name)) {
        compare(f, "", desired, live, None, &mut out);
    }
    out
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn compare(f: &Field, path: &str, desired: &Value, live: &Value, replace: Option<&'static str>, out: &mut Vec<FieldChange>) {
    if f.is_behaviour() || !f.compare {
        return;
    }
    let d = &desired[f.name];
    if d.is_null() && matches!(f.unset, Unset::Aws) {
        return;
    }
    let replace = match f.change {
        Change::Replace(why) => Some(why),
        Change::InPlace => replace,
    };
    value(&f.ty, &join(path, f.name), d, &live[f.name], replace, out);
}

fn change(path: &str, before: &Value, after: &Value, replace: Option<&'static str>, out: &mut Vec<FieldChange>) {
    out.push(FieldChange { path: path.to_string(), before: before.clone(), after: after.clone(), replace: replace.map(str::to_string) });
}

fn value(ty: &Ty, path: &str, d: &Value, l: &Value, replace: Option<&'static str>, out: &mut Vec<FieldChange>) {
    match ty {
        Ty::Tags => {
            let user = |v: &Value| -> Map<String, Value> {
                v.as_object()
                    .map(|m| m.iter().filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default()
            };
            per_key(&Ty::Str(crate::contract::schema::ANY_TEXT), path, &Value::Object(user(d)), &Value::Object(user(l)), replace, out)
        }
        Ty::Map(inner) => per_key(inner, path, d, l, replace, out),
        Ty::Keyed(fields, key) => {
            let by_key = |v: &Value| -> Map<String, Value> {
                v.as_array()
                    .map(|a| a.iter().map(|i| (i[*key].as_str().map(str::to_string).unwrap_or_else(|| i[*key].to_string()), i.clone())).collect())
                    .unwrap_or_default()
            };
            let (dm, lm) = (by_key(d), by_key(l));
            for (k, dv) in &dm {
                match lm.get(k) {
                    None => change(&join(path, k), &Value::Null, dv, replace, out),
                    Some(lv) => {
                        for f in fields.iter().filter(|f| f.name != *key) {
                            compare(f, &join(path, k), dv, lv, replace, out);
                        }
                    }
                }
            }
            for (k, lv) in &lm {
                if !dm.contains_key(k) {
                    change(&join(path, k), lv, &Value::Null, replace, out);
                }
            }
        }
        Ty::Struct(fields) | Ty::Short(fields) => match (d, l) {
            (Value::Object(_), Value::Object(_)) => {
                for f in fields.iter() {
                    compare(f, path, d, l, replace, out);
                }
            }
            _ if d != l => change(path, l, d, replace, out),
            _ => {}
        },
        Ty::Doc(doc) => {
            let (cd, cl) = ((doc.canonical)(d), (doc.canonical)(l));
            match (d, l, &cd, &cl) {
                // Name the part of the document that changed (`trust_policy.Statement`), shown
                // in the user's own spelling.
                (Value::Object(dm), Value::Object(lm), Value::Object(cdm), Value::Object(clm)) => {
                    let keys: std::collections::BTreeSet<&String> = dm.keys().chain(lm.keys()).collect();
                    for k in keys {
                        if cdm.get(k) != clm.get(k) {
                            change(&join(path, k), lm.get(k).unwrap_or(&Value::Null), dm.get(k).unwrap_or(&Value::Null), replace, out);
                        }
                    }
                }
                _ if cd != cl => change(path, l, d, replace, out),
                _ => {}
            }
        }
        Ty::Set(inner) => {
            if set(inner, d) != set(inner, l) {
                change(path, l, d, replace, out)
            }
        }
        _ => {
            if d != l {
                change(path, l, d, replace, out)
            }
        }
    }
}

fn per_key(inner: &Ty, path: &str, d: &Value, l: &Value, replace: Option<&'static str>, out: &mut Vec<FieldChange>) {
    let empty = Map::new();
    let (dm, lm) = (d.as_object().unwrap_or(&empty), l.as_object().unwrap_or(&empty));
    for (k, dv) in dm {
        let lv = lm.get(k).unwrap_or(&Value::Null);
        if lv.is_null() {
            change(&join(path, k), lv, dv, replace, out);
        } else {
            value(inner, &join(path, k), dv, lv, replace, out);
        }
    }
    for (k, lv) in lm {
        if !dm.contains_key(k) && !lv.is_null() {
            change(&join(path, k), lv, &Value::Null, replace, out);
        }
    }
}

/// A set's items in one order, each in its normal form.
fn set(inner: &Ty, v: &Value) -> Vec<String> {
    let mut items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| match inner {
                    Ty::Doc(doc) => (doc.canonical)(x).to_string(),
                    _ => x.to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    items.dedup();
    items
}

/// The state to bring a resource to: the desired value where a field changes, the live value
/// everywhere else (fields the stack leaves unset, fields equal by meaning but spelt otherwise,
/// ignored fields). A kind's update then compares typed fields with plain equality.
pub fn effective(schema: &Schema, desired: &Value, live: &Value, changes: &[FieldChange]) -> Value {
    merge(schema.fields, "", desired, live, changes)
}

fn merge(fields: &[Field], path: &str, desired: &Value, live: &Value, changes: &[FieldChange]) -> Value {
    let mut out = Map::new();
    for f in fields {
        let p = join(path, f.name);
        let touched = changes.iter().any(|c| c.path == p || c.path.starts_with(&format!("{p}.")));
        let (d, l) = (&desired[f.name], &live[f.name]);
        // Behaviour switches, and fields whose changes show through another one, are the stack's.
        let v = if f.is_behaviour() || !f.compare {
            d.clone()
        } else if !touched {
            if l.is_null() {
                d.clone()
            } else {
                l.clone()
            }
        } else {
            match (&f.ty, d, l) {
                (Ty::Struct(inner) | Ty::Short(inner), Value::Object(_), Value::Object(_)) => merge(inner, &p, d, l, changes),
                (Ty::Map(_) | Ty::Tags, Value::Object(dm), Value::Object(lm)) => {
                    // Keys that did not change keep their live spelling; removed keys go.
                    let mut m = Map::new();
                    for (k, dv) in dm {
                        let kp = join(&p, k);
                        let key_touched = changes.iter().any(|c| c.path == kp || c.path.starts_with(&format!("{kp}.")));
                        m.insert(k.clone(), if key_touched { dv.clone() } else { lm.get(k).cloned().unwrap_or_else(|| dv.clone()) });
                    }
                    Value::Object(m)
                }
                (_, Value::Null, _) => l.clone(),
                _ => d.clone(),
            }
        };
        out.insert(f.name.to_string(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::schema::*;
    use serde_json::json;

    fn canonical_lower(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(s.to_lowercase()),
            other => other.clone(),
        }
    }
    static DOC: Document = Document { name: "doc", canonical: canonical_lower, check: |_| Ok(()) };
    const ENV: &[Field] = &[field("image", STRING, "").required(), field("privileged", Ty::Bool, "").default(Lit::Bool(false))];
    static SCHEMA: Schema = Schema {
        kind: "thing",
        summary: "",
        notes: "",
        fields: &[
            field("name", STRING, "").required().replace("names are fixed"),
            field("mode", STRING, ""),
            field("env", Ty::Struct(ENV), ""),
            field("groups", Ty::Set(&STRING), "").default(Lit::EmptyList),
            field("order", Ty::List(&STRING), "").default(Lit::EmptyList),
            field("doc", Ty::Doc(&DOC), ""),
            field("force", Ty::Bool, "").behaviour(Lit::Bool(false)),
            TAGS,
        ],
        attributes: &[],
        identity: &["name"],
        unique: true,
        ownership: Ownership::Tags,
        rank: 1,
        not_found: &[],
        already_exists: &[],
    };

    fn live() -> Value {
        json!({"name": "n", "mode": "auto", "env": {"image": "i", "privileged": false}, "groups": ["a", "b"],
               "order": ["x", "y"], "doc": "ABC", "force": false, "tags": {"team": "t", "provision:stack": "s"}})
    }

    #[test]
    fn unset_equal_by_meaning_and_reserved_tags_are_no_change() {
        let d = json!({"name": "n", "mode": null, "env": {"image": "i", "privileged": false}, "groups": ["b", "a", "a"],
                       "order": ["x", "y"], "doc": "abc", "force": true, "tags": {"team": "t"}});
        assert_eq!(diff(&SCHEMA, &d, &live(), &[]), vec![]);
    }

    #[test]
    fn changes_have_dotted_paths_replace_reasons_and_removals() {
        let d = json!({"name": "m", "mode": null, "env": {"image": "i", "privileged": true}, "groups": ["a"],
                       "order": ["y", "x"], "doc": "abc", "force": false, "tags": {"team": "u", "extra": "1"}});
        let paths: Vec<(String, Option<String>)> = diff(&SCHEMA, &d, &live(), &[]).into_iter().map(|c| (c.path, c.replace)).collect();
        assert_eq!(
            paths,
            vec![
                ("name".into(), Some("names are fixed".into())),
                ("env.privileged".into(), None),
                ("groups".into(), None),
                ("order".into(), None),
                ("tags.team".into(), None),
                ("tags.extra".into(), None),
            ]
        );
        let mut l = live();
        l["tags"]["gone"] = json!("x");
        let c = diff(
            &SCHEMA,
            &json!({"name": "n", "env": {"image": "i", "privileged": false}, "groups": ["a", "b"], "order": ["x", "y"], "tags": {"team": "t"}}),
            &l,
            &[],
        );
        assert_eq!(c, vec![FieldChange { path: "tags.gone".into(), before: json!("x"), after: Value::Null, replace: None }]);
    }

    #[test]
    fn ignored_fields_never_diff() {
        let d = json!({"name": "n", "mode": "manual", "env": {"image": "i", "privileged": false}, "groups": ["a", "b"], "order": ["x", "y"], "tags": {"team": "t"}});
        assert_eq!(diff(&SCHEMA, &d, &live(), &[]).len(), 1);
        assert!(diff(&SCHEMA, &d, &live(), &["mode".into()]).is_empty());
    }

    #[test]
    fn effective_takes_live_values_where_nothing_changes() {
        let d = json!({"name": "n", "mode": null, "env": {"image": "j", "privileged": false}, "groups": ["b", "a"],
                       "order": ["x", "y"], "doc": "abc", "force": true, "tags": {"team": "t"}});
        let c = diff(&SCHEMA, &d, &live(), &[]);
        let e = effective(&SCHEMA, &d, &live(), &c);
        assert_eq!(e["mode"], json!("auto"), "unset: AWS's value");
        assert_eq!(e["doc"], json!("ABC"), "equal by meaning: the live spelling");
        assert_eq!(e["groups"], json!(["a", "b"]));
        assert_eq!(e["env"], json!({"image": "j", "privileged": false}));
        assert_eq!(e["force"], json!(true), "behaviour: the stack's");
    }
}
