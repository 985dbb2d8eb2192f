//! The README's reference of resource kinds, generated from the kinds' field tables (a test keeps
//! README.md in step with them).

use crate::contract::schema::{describe, Change, Field, Schema, Ty, Unset};
use crate::contract::Registry;
use std::fmt::Write;

pub fn markdown(registry: &dyn Registry) -> String {
    let mut out = String::new();
    for k in registry.kinds() {
        kind(&mut out, k.schema());
    }
    out
}

fn kind(out: &mut String, s: &Schema) {
    let _ = writeln!(out, "#### `{}`\n\n{}\n", s.kind, s.summary);
    let _ = writeln!(out, "| property | type | if left out | on change | |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    rows(out, "", s.fields);
    let attrs: Vec<String> =
        s.attributes.iter().map(|a| format!("`{}` ({}{})", a.name, a.doc, if a.after_create { "; known after apply" } else { "" })).collect();
    let _ = writeln!(out, "\nAttributes: {}.", attrs.join(", "));
    let identity: Vec<String> = s.identity.iter().map(|f| format!("`{f}`")).collect();
    let unique = if s.unique { "" } else { " plus this stack's tag (AWS allows several with one name; the earliest created stays)" };
    let _ = writeln!(out, "Identity: {}{unique}.", identity.join(" + "));
    if !s.notes.is_empty() {
        let _ = writeln!(out, "\n{}", s.notes);
    }
    out.push('\n');
}

fn rows(out: &mut String, prefix: &str, fields: &[Field]) {
    for f in fields.iter().filter(|f| f.input) {
        let name = format!("{prefix}{}", f.name);
        let unset = if f.required {
            "required".to_string()
        } else {
            match f.unset {
                Unset::Aws => "AWS's default (not compared)".to_string(),
                Unset::Default(l) => l.describe(),
                Unset::Behaviour(l) => format!("{} (not AWS state: never diffed)", l.describe()),
            }
        };
        let change = match f.change {
            _ if f.is_behaviour() => "-".to_string(),
            Change::InPlace => "in place".to_string(),
            Change::Replace(why) => format!("**replace**: {why}"),
        };
        let refs = if f.refs { "" } else { " (no `${}`)" };
        let _ = writeln!(out, "| `{name}` | {}{refs} | {unset} | {change} | {} |", describe(&f.ty).replace('|', "\\|"), f.doc.replace('|', "\\|"));
        match &f.ty {
            Ty::Struct(inner) | Ty::Short(inner) => rows(out, &format!("{name}."), inner),
            Ty::List(Ty::Struct(inner)) | Ty::Set(Ty::Struct(inner)) | Ty::Keyed(inner, _) => rows(out, &format!("{name}[]."), inner),
            Ty::Map(Ty::Struct(inner) | Ty::Short(inner)) => rows(out, &format!("{name}.NAME."), inner),
            _ => {}
        }
    }
}
