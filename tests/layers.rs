//! The layers point one way: `cli` -> `stack`, `engine`, `render` -> `contract` <- `resources`
//! (the kinds) -> `aws`, `kube`. This reads the `crate::` paths each folder uses and fails on an
//! arrow that points back, and on a kind that imports another kind.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LAYERS: &[&str] = &["cli", "review", "stack", "engine", "render", "check", "contract", "resources", "aws", "kube", "error", "files"];

/// Which top-level modules each module (file or folder under src/) refers to.
fn uses() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = Vec::new();
    let mut todo = vec![src.clone()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let module = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let entry = out.entry(module.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + 7..];
            let mut names: Vec<String> = Vec::new();
            if let Some(group) = rest.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                names.extend(group.split(',').map(|s| s.trim().split("::").next().unwrap_or("").to_string()));
            } else {
                names.push(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
            }
            entry.extend(names.into_iter().filter(|n| LAYERS.contains(&n.as_str()) && *n != module));
        }
    }
    out
}

#[test]
fn layers_point_one_way() {
    let uses = uses();
    // What each layer may use; `error` and `files` are bottom utilities anyone may use.
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("contract", &["aws", "kube", "error"][..]),
        ("resources", &["contract", "aws", "kube", "error"][..]),
        ("stack", &["contract", "error"][..]),
        ("engine", &["contract", "stack", "aws", "kube", "error"][..]),
        ("render", &["contract", "error"][..]),
        ("check", &["error"][..]),
        ("aws", &["contract", "error"][..]),
        ("kube", &["aws", "error"][..]),
    ]);
    for (layer, may) in &allowed {
        for used in uses.get(*layer).into_iter().flatten() {
            let bottom = used == "error" || used == "files";
            assert!(bottom || may.contains(&used.as_str()), "src/{layer} uses crate::{used}, which it must not (allowed: {may:?})");
        }
    }
}

#[test]
fn no_kind_imports_another_kind() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/resources");
    let kinds: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().to_string()))
        .filter(|k| k != "mod" && k != "iam")
        .collect();
    for k in &kinds {
        let text = std::fs::read_to_string(dir.join(format!("{k}.rs"))).unwrap();
        for other in kinds.iter().filter(|o| *o != k) {
            assert!(!text.contains(&format!("super::{other}")) && !text.contains(&format!("resources::{other}")), "kind {k} imports kind {other}");
        }
    }
}
