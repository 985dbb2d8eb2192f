//! Orders: the stack's resources by reference (creation follows references), and a plan's steps
//! as scheduler nodes with "waits for" edges.

use crate::contract::{Action, Address, Mode, Plan};
use crate::stack::Stack;
use std::collections::{BTreeSet, HashMap};

/// Resources in dependency order (dependencies first), stable with respect to file order.
/// Validation has already rejected cycles.
pub fn topo_order(stack: &Stack) -> Vec<usize> {
    let index: HashMap<&Address, usize> = stack.resources.iter().enumerate().map(|(i, r)| (&r.address, i)).collect();
    let mut waiting: Vec<usize> = stack.resources.iter().map(|r| r.deps.iter().filter(|d| index.contains_key(d)).count()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); stack.resources.len()];
    for (i, r) in stack.resources.iter().enumerate() {
        for d in r.deps.iter().filter_map(|d| index.get(d)) {
            dependents[*d].push(i);
        }
    }
    // Always take the first ready resource in file order.
    let mut ready: BTreeSet<usize> = (0..stack.resources.len()).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(stack.resources.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.insert(j);
            }
        }
    }
    assert_eq!(order.len(), stack.resources.len(), "cycle in a validated stack");
    order
}

/// What one scheduler node does for its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The step's action (for a replace that moves to a new identity: creating the new one).
    Main,
    /// The old resource of a replace that moved, deleted once nothing refers to it any more.
    RemoveOld,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub step: usize,
    pub phase: Phase,
}

/// Scheduler nodes for a plan and what each waits for. `rank` is the kind's deletion rank.
///
/// Apply: a step waits for the steps of what it references; the old resource of a moved replace
/// goes once the new one exists and every dependent is done; resources no longer declared
/// (and duplicates) go last, consumers before what they consume (by rank).
/// Destroy: a resource goes once everything referencing it is gone; undeclared ones by rank.
pub fn nodes(plan: &Plan, rank: impl Fn(&str) -> u8) -> (Vec<Node>, Vec<Vec<usize>>) {
    let steps = &plan.steps;
    let declared = |i: usize| steps[i].desired.is_some();
    let mut nodes: Vec<Node> = (0..steps.len()).map(|step| Node { step, phase: Phase::Main }).collect();
    for (i, s) in steps.iter().enumerate() {
        if plan.mode == Mode::Apply && s.moves() {
            nodes.push(Node { step: i, phase: Phase::RemoveOld });
        }
    }
    let main_of = |address: &crate::contract::Address| -> Vec<usize> { (0..steps.len()).filter(|&j| declared(j) && &steps[j].address == address).collect() };
    let cleanup = |i: usize| !declared(i) && steps[i].action == Action::Delete;
    let mut waits = vec![Vec::new(); nodes.len()];
    for (n, node) in nodes.iter().enumerate() {
        let i = node.step;
        let s = &steps[i];
        let w = &mut waits[n];
        match (plan.mode, node.phase) {
            (Mode::Apply, Phase::Main) if declared(i) => {
                for d in &s.deps {
                    w.extend(main_of(d));
                }
            }
            (Mode::Apply, Phase::RemoveOld) => {
                w.push(i);
                w.extend((0..steps.len()).filter(|&k| declared(k) && steps[k].deps.contains(&s.address)));
            }
            (Mode::Apply, Phase::Main) => {
                // No longer declared: after every declared step and every moved replace.
                w.extend((0..nodes.len()).filter(|&m| m != n && (declared(nodes[m].step) || nodes[m].phase == Phase::RemoveOld)));
                w.extend((0..steps.len()).filter(|&j| j != i && cleanup(j) && rank(&steps[j].address.kind) > rank(&s.address.kind)));
            }
            (Mode::Destroy, _) => {
                if declared(i) {
                    w.extend((0..steps.len()).filter(|&k| declared(k) && steps[k].deps.contains(&s.address)));
                }
                w.extend((0..steps.len()).filter(|&j| j != i && (cleanup(i) || cleanup(j)) && rank(&steps[j].address.kind) > rank(&s.address.kind)));
            }
        }
        w.sort();
        w.dedup();
    }
    (nodes, waits)
}
