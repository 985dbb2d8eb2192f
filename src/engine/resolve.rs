//! Resolve `${...}` references in a resource's properties into plain JSON.

use crate::resources::Attrs;
use crate::stack::interp::{self, Piece, Ref, UNKNOWN};
use crate::stack::node::{Node, NodeValue};
use crate::stack::{Address, Stack};
use serde_json::Value;
use std::collections::HashMap;

/// Everything a reference can point at.
pub struct Env<'a> {
    pub stack: &'a Stack,
    pub account_id: &'a str,
    pub region: &'a str,
    pub attrs: &'a HashMap<Address, Attrs>,
}

impl Env<'_> {
    fn lookup(&self, r: &Ref) -> Option<String> {
        match r {
            Ref::Var(v) => self.stack.vars.get(v).cloned(),
            Ref::AccountId => Some(self.account_id.to_string()),
            Ref::Region => Some(self.region.to_string()),
            Ref::Stack => Some(self.stack.name.clone()),
            Ref::Attr { kind, name, attr } => {
                let a = Address { kind: kind.clone(), name: name.clone() };
                self.attrs.get(&a).and_then(|m| m.get(attr)).cloned().flatten()
            }
        }
    }
}

/// A string with any unknown part becomes `UNKNOWN` as a whole: half an ARN is not a value.
pub fn resolve(node: &Node, env: &Env) -> Value {
    match &node.value {
        NodeValue::Str(s) => Value::String(resolve_str(s, env)),
        NodeValue::Seq(items) => Value::Array(items.iter().map(|n| resolve(n, env)).collect()),
        NodeValue::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.name.clone(), resolve(v, env))).collect()),
        _ => node.to_json(),
    }
}

fn resolve_str(s: &str, env: &Env) -> String {
    // References were validated at load time.
    let Ok(pieces) = interp::pieces(s) else { return s.to_string() };
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Expr(e, _) => match interp::parse_ref(e).ok().and_then(|r| env.lookup(&r)) {
                Some(v) if v != UNKNOWN => out.push_str(&v),
                _ => return UNKNOWN.to_string(),
            },
        }
    }
    out
}

/// Does this resolved value still contain an unknown?
pub fn has_unknown(v: &Value) -> bool {
    match v {
        Value::String(s) => s == UNKNOWN,
        Value::Array(a) => a.iter().any(has_unknown),
        Value::Object(m) => m.values().any(has_unknown),
        _ => false,
    }
}
