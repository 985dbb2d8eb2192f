//! `provision graph`: the stack's resources and their references, as Graphviz DOT or Mermaid. An
//! edge goes from a resource to one that refers to it (the order apply creates them in); with a
//! plan, each node is coloured by what the plan does to it.

use crate::contract::{Action, Address};
use std::fmt::Write;

pub struct Graph {
    pub stack: String,
    /// Every resource, with the plan's action when there is a plan.
    pub nodes: Vec<(Address, Option<Action>)>,
    /// `(referenced, referencing)`.
    pub edges: Vec<(Address, Address)>,
}

/// Fill colour and legend word for an action.
fn colour(a: Action) -> (&'static str, &'static str) {
    match a {
        Action::Create => ("#b7e4c7", "create"),
        Action::Update => ("#ffe8a3", "update"),
        Action::Replace => ("#ffc6a5", "replace"),
        Action::Delete => ("#f4a6a6", "delete"),
        Action::NoOp => ("#e9ecef", "unchanged"),
        Action::Unowned => ("#c9c9ff", "not this stack's"),
    }
}

impl Graph {
    fn index(&self, a: &Address) -> usize {
        self.nodes.iter().position(|(n, _)| n == a).expect("edges join nodes")
    }

    pub fn dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph {:?} {{", self.stack);
        let _ = writeln!(out, "  rankdir=LR;");
        let _ = writeln!(out, "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];");
        for (a, action) in &self.nodes {
            match action {
                Some(x) => {
                    let (fill, word) = colour(*x);
                    let _ = writeln!(out, "  \"{a}\" [label=\"{a}\\n({word})\", fillcolor=\"{fill}\"];");
                }
                None => {
                    let _ = writeln!(out, "  \"{a}\";");
                }
            }
        }
        for (from, to) in &self.edges {
            let _ = writeln!(out, "  \"{from}\" -> \"{to}\";");
        }
        out.push_str("}\n");
        out
    }

    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        // Node ids are positions: addresses hold `.`, which Mermaid ids cannot.
        for (i, (a, action)) in self.nodes.iter().enumerate() {
            let label = match action {
                Some(x) => format!("{a}<br/>({})", colour(*x).1),
                None => a.to_string(),
            };
            let _ = writeln!(out, "  n{i}[\"{label}\"]");
        }
        for (from, to) in &self.edges {
            let _ = writeln!(out, "  n{} --> n{}", self.index(from), self.index(to));
        }
        let mut used: Vec<Action> = self.nodes.iter().filter_map(|(_, a)| *a).collect();
        used.sort_by_key(|a| colour(*a).1);
        used.dedup();
        for a in used {
            let (fill, word) = colour(a);
            let class = word.replace([' ', '\''], "_");
            let _ = writeln!(out, "  classDef {class} fill:{fill},stroke:#555");
            let ids: Vec<String> = self.nodes.iter().enumerate().filter(|(_, (_, x))| *x == Some(a)).map(|(i, _)| format!("n{i}")).collect();
            let _ = writeln!(out, "  class {} {class}", ids.join(","));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(plan: bool) -> Graph {
        let (a, b) = (Address::new("iam_role", "build"), Address::new("codebuild_project", "build"));
        Graph { stack: "s".into(), nodes: vec![(a.clone(), plan.then_some(Action::Create)), (b.clone(), plan.then_some(Action::NoOp))], edges: vec![(a, b)] }
    }

    #[test]
    fn dot_and_mermaid_name_every_node_and_edge() {
        let dot = g(false).dot();
        assert!(dot.starts_with("digraph \"s\" {") && dot.trim_end().ends_with('}'), "{dot}");
        assert!(dot.contains("\"iam_role.build\" -> \"codebuild_project.build\";"), "{dot}");
        let m = g(true).mermaid();
        assert!(m.contains("n0[\"iam_role.build<br/>(create)\"]") && m.contains("n0 --> n1"), "{m}");
        assert!(m.contains("class n0 create") && m.contains("class n1 unchanged"), "{m}");
    }
}
