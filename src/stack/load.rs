//! Load a stack file: parse the YAML, include policy files, type-check each resource's properties.
//! Cross-resource checks live in `validate`. Every problem is reported with file:line:col and a
//! `help:` line; all problems found are reported together.

use super::diag::{Diagnostic, Diagnostics, Loc};
use super::node::{self, Node, NodeValue, Pos};
use super::{validate, Address, Resource, Settings, Stack};
use crate::resources;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TOP_KEYS: &[&str] = &["stack", "region", "vars", "settings", "resources"];
const SETTINGS_KEYS: &[&str] = &["iam_propagation_timeout_seconds", "parallelism"];

pub(super) struct Loader {
    files: Vec<PathBuf>,
    texts: Vec<String>,
    root: PathBuf,
    diags: Diagnostics,
}

impl Loader {
    pub(super) fn loc(&self, pos: Pos) -> Loc {
        Loc::new(&self.files[pos.file as usize], pos.line, pos.col)
    }

    pub(super) fn error(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        let text = &self.texts[pos.file as usize];
        let d = Diagnostic::in_text(text, self.loc(pos), message).help(help);
        self.diags.push(d);
    }

    /// Position of the character at byte `offset` of the string value at `pos` (quotes skipped).
    pub(super) fn pos_in_string(&self, pos: Pos, offset: usize) -> Pos {
        let text = &self.texts[pos.file as usize];
        let line = text.lines().nth(pos.line as usize - 1).unwrap_or("");
        let at = line.chars().nth(pos.col as usize - 1);
        let quote = matches!(at, Some('"') | Some('\'')) as u64;
        Pos { col: pos.col + quote + offset as u64, ..pos }
    }
}

/// The project root: policy paths in a stack are relative to it. It is the directory holding
/// `stacks/` when the stack lives there, otherwise the stack file's own directory.
fn project_root(stack_file: &Path) -> PathBuf {
    let dir = stack_file.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "stacks") {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        dir
    }
}

pub fn load(path: &Path) -> crate::Result<Stack> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::Error::user(
            format!("cannot read stack file {}: {e}", path.display()),
            "pass an existing stack file with -s/--stack FILE",
        )
    })?;
    load_str(path, text)
}

pub fn load_str(path: &Path, text: String) -> crate::Result<Stack> {
    let mut l = Loader {
        files: vec![path.to_path_buf()],
        texts: vec![text],
        root: project_root(path),
        diags: Diagnostics::default(),
    };
    let root = match node::parse_yaml(&l.texts[0]) {
        Ok(n) => n,
        Err(e) => {
            let (line, col) = e.location().map(|p| (p.line(), p.column())).unwrap_or((1, 1));
            let msg = yaml_message(&e);
            let help = if msg.starts_with("duplicate mapping key") {
                "each key may appear once in a mapping; a resource address (`KIND.NAME`) must be unique in the stack"
            } else {
                "fix the YAML syntax at this position"
            };
            l.error(Pos { file: 0, line, col }, format!("invalid YAML: {msg}"), help);
            return Err(crate::Error::Stack(l.diags));
        }
    };
    let stack = build(&mut l, root);
    l.diags.into_result()?;
    Ok(stack.expect("no diagnostics means the stack was built"))
}

/// serde-saphyr's message without the location and advice it adds (we print our own).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let s = e.to_string();
    let mut msg = s.lines().next().unwrap_or(&s).trim().to_string();
    msg = msg.strip_prefix("error: ").unwrap_or(&msg).to_string();
    if let Some(rest) = msg.strip_prefix("line ") {
        // "line 5 column 3: duplicate mapping key: ..."
        if let Some((_, tail)) = rest.split_once(": ") {
            msg = tail.to_string();
        }
    }
    for cut in [" at line ", ", set DuplicateKeyPolicy"] {
        if let Some(i) = msg.find(cut) {
            msg.truncate(i);
        }
    }
    msg
}

fn build(l: &mut Loader, root: Node) -> Option<Stack> {
    let Some(map) = root.as_map() else {
        l.error(root.pos, format!("a stack file must be a mapping, found {}", root.type_name()), "start the file with `stack: NAME` and `resources:`");
        return None;
    };
    for (k, _) in map {
        if !TOP_KEYS.contains(&k.name.as_str()) {
            l.error(k.pos, format!("unknown key `{}`", k.name), format!("valid top-level keys are: {}", TOP_KEYS.join(", ")));
        }
    }
    let name = match root.get("stack") {
        Some(n) => match n.as_str() {
            Some(s) if valid_stack_name(s) => s.to_string(),
            Some(_) => {
                l.error(n.pos, "invalid stack name", "use 1-64 letters, digits, `-` or `_` (it becomes the value of the provision:stack tag)");
                String::new()
            }
            None => {
                l.error(n.pos, format!("`stack` must be a string, found {}", n.type_name()), "write `stack: my-stack`");
                String::new()
            }
        },
        None => {
            l.error(root.pos, "missing `stack`", "add `stack: NAME` at the top: the name tags every resource this stack owns");
            String::new()
        }
    };
    let region = root.get("region").and_then(|n| match n.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            l.error(n.pos, format!("`region` must be a string, found {}", n.type_name()), "write e.g. `region: us-east-1`, or leave it out to use the AWS configuration");
            None
        }
    });
    let vars = load_vars(l, root.get("vars"));
    let settings = load_settings(l, root.get("settings"));

    let mut resources = Vec::new();
    match root.get("resources") {
        None => l.error(root.pos, "missing `resources`", "add a `resources:` mapping of `KIND.NAME: {properties}`"),
        Some(n) => match n.as_map() {
            None if matches!(n.value, NodeValue::Null) => {}
            None => l.error(n.pos, format!("`resources` must be a mapping, found {}", n.type_name()), "write `resources:` followed by `KIND.NAME:` entries"),
            Some(entries) => {
                for (k, v) in entries {
                    if let Some(r) = load_resource(l, &k.name, k.pos, v.clone()) {
                        resources.push(r);
                    }
                }
            }
        },
    }
    validate::references(l, &mut resources, &vars);
    validate::duplicate_names(l, &resources);
    validate::cycles(l, &resources);
    Some(Stack { name, files: l.files.clone(), region, vars, settings, resources })
}

fn valid_stack_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn load_vars(l: &mut Loader, node: Option<&Node>) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    let Some(node) = node else { return vars };
    let Some(map) = node.as_map() else {
        l.error(node.pos, format!("`vars` must be a mapping, found {}", node.type_name()), "write `vars:` followed by `name: value` lines");
        return vars;
    };
    for (k, v) in map {
        let value = match &v.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Bool(b) => b.to_string(),
            _ => {
                l.error(v.pos, format!("variable `{}` must be a scalar, found {}", k.name, v.type_name()), "variables are strings; quote the value");
                continue;
            }
        };
        vars.insert(k.name.clone(), value);
    }
    vars
}

fn load_settings(l: &mut Loader, node: Option<&Node>) -> Settings {
    let mut s = Settings::default();
    let Some(node) = node else { return s };
    let Some(map) = node.as_map() else {
        l.error(node.pos, format!("`settings` must be a mapping, found {}", node.type_name()), format!("valid settings are: {}", SETTINGS_KEYS.join(", ")));
        return s;
    };
    for (k, v) in map {
        let int = match v.value {
            NodeValue::Int(i) if i > 0 => Some(i as u64),
            _ => None,
        };
        match (k.name.as_str(), int) {
            ("iam_propagation_timeout_seconds", Some(i)) => s.iam_propagation_timeout = std::time::Duration::from_secs(i),
            ("parallelism", Some(i)) if i <= 64 => s.parallelism = i as usize,
            ("iam_propagation_timeout_seconds" | "parallelism", _) => {
                l.error(v.pos, format!("`{}` must be a positive whole number", k.name), "e.g. `parallelism: 8` (at most 64), `iam_propagation_timeout_seconds: 120`")
            }
            _ => l.error(k.pos, format!("unknown setting `{}`", k.name), format!("valid settings are: {}", SETTINGS_KEYS.join(", "))),
        }
    }
    s
}

fn load_resource(l: &mut Loader, key: &str, pos: Pos, mut props: Node) -> Option<Resource> {
    let kinds = || resources::registry().iter().map(|k| k.kind()).collect::<Vec<_>>().join(", ");
    let Some((kind, name)) = key.split_once('.') else {
        l.error(pos, format!("`{key}` is not a resource address"), format!("write `KIND.NAME`, e.g. `ecr_repository.app`; kinds: {}", kinds()));
        return None;
    };
    let Some(k) = resources::lookup(kind) else {
        l.error(pos, format!("unknown resource kind `{kind}`"), format!("known kinds: {}", kinds()));
        return None;
    };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        l.error(pos, format!("invalid resource name `{name}`"), "use letters, digits, `_` or `-` after the kind, e.g. `iam_role.kubectl`");
        return None;
    }
    if props.as_map().is_none() {
        l.error(props.pos, format!("`{key}` must be a mapping of properties, found {}", props.type_name()), "indent the resource's properties under its address");
        return None;
    }
    let before = l.diags.0.len();
    include_files(l, &mut props);
    if l.diags.0.len() > before {
        return None;
    }
    if let Err(e) = k.check(&props.to_json()) {
        let at = match e.path.last() {
            // An unknown field: serde names it last in the path; point at the key itself.
            Some(node::PathSeg::Key(last)) if e.message.starts_with("unknown field") => {
                let parent = node_at(&props, &e.path[..e.path.len() - 1]);
                parent.and_then(|p| p.key_pos(last)).unwrap_or_else(|| props.locate(&e.path))
            }
            _ => props.locate(&e.path),
        };
        let path = render_path(&e.path);
        let help = e.help.unwrap_or_else(|| format!("see the `{kind}` section of the README for its properties"));
        let msg = if path.is_empty() { e.message } else { format!("{key}.{path}: {}", e.message) };
        l.error(at, msg, help);
        return None;
    }
    Some(Resource {
        address: Address { kind: kind.to_string(), name: name.to_string() },
        pos,
        props,
        deps: BTreeSet::new(),
    })
}

fn node_at<'a>(root: &'a Node, path: &[node::PathSeg]) -> Option<&'a Node> {
    let mut n = root;
    for seg in path {
        n = match (seg, &n.value) {
            (node::PathSeg::Key(k), NodeValue::Map(m)) => &m.iter().find(|(key, _)| &key.name == k)?.1,
            (node::PathSeg::Index(i), NodeValue::Seq(s)) => s.get(*i)?,
            _ => return None,
        };
    }
    Some(n)
}

fn render_path(path: &[node::PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            node::PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            node::PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Replace every `{file: path}` mapping by the parsed JSON file it names.
fn include_files(l: &mut Loader, node: &mut Node) {
    let include = match &node.value {
        NodeValue::Map(m) if m.len() == 1 && m[0].0.name == "file" => Some(m[0].1.clone()),
        _ => None,
    };
    if let Some(f) = include {
        let Some(rel) = f.as_str() else {
            l.error(f.pos, format!("`file` must be a path string, found {}", f.type_name()), "write `{ file: policies/NAME.json }`");
            return;
        };
        let path = l.root.join(rel);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                l.error(f.pos, format!("cannot read policy file `{}`: {e}", path.display()), format!("paths are relative to the project root {}; check the name", display_root(&l.root)));
                return;
            }
        };
        let id = l.files.len() as u32;
        l.files.push(path);
        l.texts.push(text);
        match node::parse_json(&l.texts[id as usize]) {
            Ok(mut included) => {
                included.set_file(id);
                *node = included;
            }
            Err((msg, line, col)) => {
                l.error(Pos { file: id, line, col }, format!("invalid JSON: {msg}"), "fix the policy document; it must be a single JSON object");
            }
        }
        return;
    }
    match &mut node.value {
        NodeValue::Seq(s) => s.iter_mut().for_each(|n| include_files(l, n)),
        NodeValue::Map(m) => m.iter_mut().for_each(|(_, n)| include_files(l, n)),
        _ => {}
    }
}

fn display_root(root: &Path) -> String {
    if root.as_os_str().is_empty() {
        ".".into()
    } else {
        root.display().to_string()
    }
}
