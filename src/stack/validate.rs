//! Cross-resource checks of a loaded stack: references resolve (to declared variables, resources
//! and attributes), AWS names are unique per kind, and references form no cycle (they order
//! creation, so a cycle could never be applied).

use super::interp::{self, Piece, Ref};
use super::load::Loader;
use super::node::Node;
use super::{Address, Resource};
use crate::resources;
use std::collections::{BTreeMap, HashMap};

pub(super) fn references(l: &mut Loader, resources: &mut [Resource], vars: &BTreeMap<String, String>) {
    let declared: HashMap<Address, &'static dyn resources::Kind> = resources
        .iter()
        .map(|r| (r.address.clone(), resources::lookup(&r.address.kind).expect("kind checked")))
        .collect();
    let names: Vec<String> = resources.iter().map(|r| r.address.to_string()).collect();
    for r in resources.iter_mut() {
        let mut strings = Vec::new();
        r.props.strings(&mut strings);
        for (s, pos) in strings {
            let pieces = match interp::pieces(s) {
                Ok(p) => p,
                Err((off, msg)) => {
                    let at = l.pos_in_string(pos, off);
                    l.error(at, msg, "close the reference with `}`, e.g. `${var.name}`");
                    continue;
                }
            };
            for p in pieces {
                let Piece::Expr(expr, off) = p else { continue };
                let at = l.pos_in_string(pos, off);
                match interp::parse_ref(expr) {
                    Err(msg) => l.error(at, msg, "references look like `${var.NAME}`, `${account_id}`, `${region}`, `${stack}` or `${KIND.NAME.ATTRIBUTE}`"),
                    Ok(Ref::Var(v)) if !vars.contains_key(&v) => {
                        let known = vars.keys().cloned().collect::<Vec<_>>().join(", ");
                        l.error(at, format!("undefined variable `{v}`"), if known.is_empty() { "declare it under `vars:`".to_string() } else { format!("declare it under `vars:` (declared: {known})") })
                    }
                    Ok(Ref::Attr { kind, name, attr }) => {
                        let target = Address { kind: kind.clone(), name: name.clone() };
                        match declared.get(&target) {
                            None => l.error(at, format!("reference to undeclared resource `{target}`"), format!("declared resources: {}", names.join(", "))),
                            Some(k) if !k.attributes().contains(&attr.as_str()) => l.error(at, format!("`{kind}` has no attribute `{attr}`"), format!("attributes of `{kind}`: {}", k.attributes().join(", "))),
                            Some(_) if target == r.address => l.error(at, format!("`{target}` refers to itself"), "a resource cannot use its own attributes; write the value out"),
                            Some(_) => {
                                r.deps.insert(target);
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
    }
}

pub(super) fn duplicate_names(l: &mut Loader, resources: &[Resource]) {
    let mut seen: HashMap<(String, String), &Resource> = HashMap::new();
    for r in resources {
        let Some(name) = r.props.get("name").and_then(Node::as_str) else { continue };
        if let Some(first) = seen.get(&(r.address.kind.clone(), name.to_string())) {
            let first_at = l.loc(first.pos);
            let pos = r.props.get("name").map(|n| n.pos).unwrap_or(r.pos);
            l.error(pos, format!("duplicate name: `{}` and `{}` both declare {} `{name}`", first.address, r.address, r.address.kind), format!("names are identities in AWS; rename one of them (the first is at {first_at})"));
        } else {
            seen.insert((r.address.kind.clone(), name.to_string()), r);
        }
    }
}

pub(super) fn cycles(l: &mut Loader, resources: &[Resource]) {
    let by_addr: HashMap<&Address, &Resource> = resources.iter().map(|r| (&r.address, r)).collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state: HashMap<&Address, u8> = HashMap::new();
    let mut reported = false;
    fn visit<'a>(
        a: &'a Address,
        by_addr: &HashMap<&'a Address, &'a Resource>,
        state: &mut HashMap<&'a Address, u8>,
        path: &mut Vec<&'a Address>,
    ) -> Option<Vec<&'a Address>> {
        match state.get(a) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| *p == a).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(a);
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(a, 1);
        path.push(a);
        if let Some(r) = by_addr.get(a) {
            for d in &r.deps {
                if let Some((key, _)) = by_addr.get_key_value(d) {
                    if let Some(c) = visit(key, by_addr, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(a, 2);
        None
    }
    for r in resources {
        if reported {
            break;
        }
        let mut path = Vec::new();
        if let Some(cycle) = visit(&r.address, &by_addr, &mut state, &mut path) {
            reported = true;
            let first = by_addr[cycle[0]];
            let text = cycle.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" -> ");
            l.error(first.pos, format!("reference cycle: {text}"), "resources cannot depend on each other in a loop; break it by writing one of the values out");
        }
    }
}
