//! Resolve `${...}` references in a resource's properties into plain JSON.

use crate::contract::{Address, Attrs, UNKNOWN};
use crate::stack::interp::{self, Piece, Ref};
use crate::stack::node::{Node, NodeValue};
use crate::stack::Stack;
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
            // Variables may refer to other variables (validated to form no loop).
            Ref::Var(v) => self.stack.vars.get(v).map(|v| self.text(&v.value)),
            Ref::AccountId => Some(self.account_id.to_string()),
            Ref::Region => Some(self.region.to_string()),
            Ref::Stack => Some(self.stack.name.clone()),
            Ref::Attr { kind, name, attr } => {
                let a = Address { kind: kind.clone(), name: name.clone() };
                self.attrs.get(&a).and_then(|m| m.get(attr)).cloned().flatten()
            }
        }
    }

    /// A string with its references resolved. Any unknown part makes the whole value `UNKNOWN`:
    /// half an ARN is not a value.
    pub fn text(&self, s: &str) -> String {
        // References were validated at load time.
        let Ok(pieces) = interp::pieces(s) else { return s.to_string() };
        let mut out = String::new();
        for p in pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Expr(e, _) => match interp::parse_ref(e).ok().and_then(|r| self.lookup(&r)) {
                    Some(v) if v != UNKNOWN => out.push_str(&v),
                    _ => return UNKNOWN.to_string(),
                },
            }
        }
        out
    }

    pub fn resolve(&self, node: &Node) -> Value {
        match &node.value {
            NodeValue::Str(s) => Value::String(self.text(s)),
            NodeValue::Seq(items) => Value::Array(items.iter().map(|n| self.resolve(n)).collect()),
            NodeValue::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.name.clone(), self.resolve(v))).collect()),
            _ => node.to_json(),
        }
    }
}
