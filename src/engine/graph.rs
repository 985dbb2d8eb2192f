//! The reference graph: creation order follows references; deletion runs in reverse.

use crate::stack::{Address, Stack};
use std::collections::{BTreeSet, HashMap};

/// Resources in dependency order (dependencies first), stable with respect to file order.
/// The loader has already rejected cycles.
pub fn topo_order(stack: &Stack) -> Vec<Address> {
    let mut done: BTreeSet<Address> = BTreeSet::new();
    let mut order = Vec::new();
    while order.len() < stack.resources.len() {
        let before = order.len();
        for r in &stack.resources {
            if !done.contains(&r.address) && r.deps.iter().all(|d| done.contains(d)) {
                done.insert(r.address.clone());
                order.push(r.address.clone());
            }
        }
        assert!(order.len() > before, "cycle in a validated stack");
    }
    order
}

/// For each resource, the resources that reference it (the edges reversed).
pub fn dependents(stack: &Stack) -> HashMap<Address, Vec<Address>> {
    let mut m: HashMap<Address, Vec<Address>> = HashMap::new();
    for r in &stack.resources {
        for d in &r.deps {
            m.entry(d.clone()).or_default().push(r.address.clone());
        }
    }
    m
}
