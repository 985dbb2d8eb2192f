//! Check a parsed stack: top-level keys, variables and settings; each resource against its kind's
//! field table (types, required fields, enums, lengths, where `${}` may appear) and the kind's
//! own cross-field rules; then relate the resources: references resolve (to declared variables,
//! resources and attributes), AWS names are unique per kind, and references form no cycle (they
//! order creation, so a cycle could never be applied).

use super::interp::{self, Piece, Ref};
use super::load::Parsed;
use super::node::{Key, Node, NodeValue};
use super::source::Sources;
use super::{Guards, Resource, Stack, Var, VarSource};
use crate::contract::schema::{check_text, describe, Field, Ty};
use crate::contract::{Address, AssumeRole, PathSeg, Registry, Settings, RESERVED_TAG_PREFIX};
use crate::error::diag::excerpt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

const TOP_KEYS: &[&str] = &["stack", "region", "assume_role", "vars", "settings", "resources"];
/// Keys of a resource that are about provision, not about the AWS resource.
const META_KEYS: &[&str] = &["lifecycle", "checks"];

/// A variable set on the command line or in the environment; it wins over the stack file.
#[derive(Debug, Clone)]
pub struct VarOverride {
    pub name: String,
    pub value: String,
    pub source: VarSource,
}

pub fn validate(parsed: Parsed, registry: &dyn Registry, overrides: &[VarOverride]) -> crate::Result<Stack> {
    let Parsed { mut sources, root, .. } = parsed;
    let src = &mut sources;
    let Some(map) = root.as_map() else {
        src.error(root.pos, format!("a stack file must be a mapping, found {}", root.type_name()), "start the file with `stack: NAME` and `resources:`");
        return Err(crate::Error::Stack(sources.diags));
    };
    for (k, _) in map {
        if !TOP_KEYS.contains(&k.name.as_str()) {
            src.error(k.pos, format!("unknown key `{}`", excerpt(&k.name)), format!("valid top-level keys are: {}", TOP_KEYS.join(", ")));
        }
    }
    let name = stack_name(src, &root);
    let region = root.get("region").and_then(|n| match n.as_str() {
        Some(s) if valid_region(s) => Some(s.to_string()),
        Some(s) => {
            src.error(
                n.pos,
                format!("`{}` is not an AWS region name", excerpt(s)),
                "write e.g. `region: us-east-1`, or leave it out to use the AWS configuration",
            );
            None
        }
        None => {
            src.error(n.pos, format!("`region` must be a string, found {}", n.type_name()), "write e.g. `region: us-east-1`");
            None
        }
    });
    let assume_role = root.get("assume_role").and_then(|n| assume_role(src, n));
    let vars = load_vars(src, root.get("vars"), overrides);
    let settings = load_settings(src, root.get("settings"));

    let mut resources = Vec::new();
    match root.get("resources") {
        None => src.error(root.pos, "missing `resources`", "add a `resources:` mapping of `KIND.NAME: {properties}`"),
        Some(n) => match n.as_map() {
            None if matches!(n.value, NodeValue::Null) => {}
            None => src.error(n.pos, format!("`resources` must be a mapping, found {}", n.type_name()), "write `resources:` followed by `KIND.NAME:` entries"),
            Some(entries) => {
                for (k, v) in entries {
                    if let Some(r) = resource(src, registry, k, v) {
                        resources.push(r);
                    }
                }
            }
        },
    }
    var_references(src, &vars);
    references(src, registry, &mut resources, &vars);
    duplicate_names(src, &resources);
    cycles(src, &resources);
    if src.has_errors() {
        return Err(crate::Error::Stack(sources.diags));
    }
    let digest = sources.digest();
    Ok(Stack { name, files: sources.files, texts: sources.texts, digest, region, assume_role, vars, settings, resources })
}

fn stack_name(src: &mut Sources, root: &Node) -> String {
    match root.get("stack") {
        Some(n) => match n.as_str() {
            Some(s) if !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => s.to_string(),
            Some(_) => {
                src.error(n.pos, "invalid stack name", "use 1-64 letters, digits, `-` or `_` (it becomes the value of the provision:stack tag)");
                String::new()
            }
            None => {
                src.error(n.pos, format!("`stack` must be a string, found {}", n.type_name()), "write `stack: my-stack`");
                String::new()
            }
        },
        None => {
            src.error(root.pos, "missing `stack`", "add `stack: NAME` at the top: the name tags every resource this stack owns");
            String::new()
        }
    }
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`.
pub fn valid_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let word = |p: &str| !p.is_empty() && p.len() <= 12 && p.chars().all(|c| c.is_ascii_lowercase());
    parts.len() >= 3 && parts.len() <= 4 && parts[..parts.len() - 1].iter().all(|p| word(p)) && parts[parts.len() - 1].parse::<u8>().is_ok()
}

/// `assume_role: { role_arn, external_id, session_name }`: read before any AWS call, so plain
/// strings (no `${}`), checked as STS checks them.
fn assume_role(src: &mut Sources, node: &Node) -> Option<AssumeRole> {
    const KEYS: &[&str] = &["role_arn", "external_id", "session_name"];
    let example = "write e.g. `assume_role: { role_arn: arn:aws:iam::111122223333:role/provision-applier }`";
    let Some(map) = node.as_map() else {
        src.error(node.pos, format!("`assume_role` must be a mapping, found {}", node.type_name()), example);
        return None;
    };
    let before = src.diags.0.len();
    for (k, _) in map {
        if !KEYS.contains(&k.name.as_str()) {
            src.error(k.pos, format!("unknown key `{}` in `assume_role`", excerpt(&k.name)), format!("valid keys are: {}", KEYS.join(", ")));
        }
    }
    let mut text = |key: &str, ok: &dyn Fn(&str) -> bool, help: &str| -> Option<String> {
        let n = node.get(key)?;
        match n.as_str() {
            Some(v) if ok(v) => Some(v.to_string()),
            Some(v) if v.contains("${") => {
                src.error(
                    n.pos,
                    format!("`assume_role.{key}` cannot use `${{}}`"),
                    "it is read before any AWS call: write the value itself, or pass --assume-role ARN",
                );
                None
            }
            Some(v) => {
                src.error(n.pos, format!("`{}` is not a valid `assume_role.{key}`", excerpt(v)), help);
                None
            }
            None => {
                src.error(n.pos, format!("`assume_role.{key}` must be a string, found {}", n.type_name()), help);
                None
            }
        }
    };
    let name_chars = |v: &str, extra: &str| v.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) || extra.contains(c));
    let role_arn = text("role_arn", &valid_role_arn, "write a role ARN, e.g. `arn:aws:iam::111122223333:role/provision-applier`");
    let external_id = text("external_id", &|v| (2..=1224).contains(&v.len()) && name_chars(v, ":/"), "2-1224 letters, digits or `_+=,.@:/-`");
    let session_name = text("session_name", &|v| (2..=64).contains(&v.len()) && name_chars(v, ""), "2-64 letters, digits or `_+=,.@-`");
    if node.get("role_arn").is_none() {
        src.error(node.pos, "`assume_role` needs `role_arn`", example);
    }
    (src.diags.0.len() == before).then_some(AssumeRole { role_arn: role_arn?, external_id, session_name })
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
pub fn valid_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    let [arn, partition, "iam", "", account, resource] = parts[..] else { return false };
    let name = resource.strip_prefix("role/").unwrap_or("");
    arn == "arn"
        && partition.starts_with("aws")
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name.len() <= 512
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c))
}

fn load_vars(src: &mut Sources, node: Option<&Node>, overrides: &[VarOverride]) -> BTreeMap<String, Var> {
    let mut vars = BTreeMap::new();
    if let Some(node) = node {
        match node.as_map() {
            None => src.error(node.pos, format!("`vars` must be a mapping, found {}", node.type_name()), "write `vars:` followed by `name: value` lines"),
            Some(map) => {
                for (k, v) in map {
                    let value = match &v.value {
                        NodeValue::Str(s) => s.clone(),
                        NodeValue::Int(i) => i.to_string(),
                        NodeValue::Float(f) => f.to_string(),
                        NodeValue::Bool(b) => b.to_string(),
                        _ => {
                            src.error(
                                v.pos,
                                format!("variable `{}` must be a scalar, found {}", k.name, v.type_name()),
                                "variables are strings; quote the value",
                            );
                            continue;
                        }
                    };
                    vars.insert(k.name.clone(), Var { value, source: VarSource::File, pos: v.pos });
                }
            }
        }
    }
    for o in overrides {
        let pos = vars.get(&o.name).map(|v| v.pos).unwrap_or_default();
        vars.insert(o.name.clone(), Var { value: o.value.clone(), source: o.source.clone(), pos });
    }
    vars
}

/// Variables may use `${var.X}`, `${account_id}`, `${region}` and `${stack}`, not resources; a
/// variable that refers to itself, directly or around a loop, is an error.
fn var_references(src: &mut Sources, vars: &BTreeMap<String, Var>) {
    let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, v) in vars {
        let from_file = v.source == VarSource::File;
        let pieces = match interp::pieces(&v.value) {
            Ok(p) => p,
            Err((off, msg)) => {
                if from_file {
                    let at = src.pos_in_string(v.pos, off);
                    src.error(at, msg, "close the reference with `}`, e.g. `${var.name}`");
                } else {
                    src.diags.push(plain(format!("variable `{name}` ({}): {msg}", v.source)));
                }
                continue;
            }
        };
        for p in pieces {
            let Piece::Expr(expr, off) = p else { continue };
            let problem = match interp::parse_ref(expr) {
                Err(m) => Some(m),
                Ok(Ref::Attr { .. }) => Some(format!("variable `{name}` refers to a resource attribute; variables may use only other variables, `${{account_id}}`, `${{region}}` and `${{stack}}`")),
                Ok(Ref::Var(other)) if !vars.contains_key(&other) => Some(format!("undefined variable `{other}`")),
                Ok(Ref::Var(other)) => {
                    edges.entry(name).or_default().push(vars.get_key_value(&other).map(|(k, _)| k.as_str()).unwrap_or_default());
                    None
                }
                Ok(_) => None,
            };
            if let Some(m) = problem {
                if from_file {
                    let at = src.pos_in_string(v.pos, off);
                    src.error(at, m, "write the value out, or refer to a declared variable");
                } else {
                    src.diags.push(plain(format!("variable `{name}` ({}): {m}", v.source)));
                }
            }
        }
    }
    // A loop among variables.
    for start in edges.keys() {
        let mut path = vec![*start];
        let mut seen = BTreeSet::new();
        while let Some(next) = path.last().and_then(|l| edges.get(l)).and_then(|e| e.first()) {
            if *next == *start {
                path.push(next);
                let v = &vars[*start];
                src.error(v.pos, format!("variable loop: {}", path.join(" -> ")), "a variable cannot refer to itself; write one of the values out");
                return;
            }
            if !seen.insert(*next) {
                break;
            }
            path.push(next);
        }
    }
}

fn plain(message: String) -> crate::error::Diagnostic {
    crate::error::Diagnostic {
        message,
        loc: crate::error::Loc::new(std::path::Path::new("(command line)"), 1, 1),
        line_text: None,
        help: Some("fix the value given with --var or PROVISION_VAR_<NAME>".into()),
    }
}

fn load_settings(src: &mut Sources, node: Option<&Node>) -> Settings {
    type Set = fn(&mut Settings, u64);
    const SETTINGS: &[(&str, u64, u64, Set)] = &[
        ("parallelism", 1, 64, |s, v| s.parallelism = v as usize),
        ("read_parallelism", 1, 256, |s, v| s.read_parallelism = v as usize),
        ("iam_propagation_timeout_seconds", 1, 3600, |s, v| s.iam_propagation_timeout = Duration::from_secs(v)),
        ("connect_timeout_seconds", 1, 300, |s, v| s.connect_timeout = Duration::from_secs(v)),
        ("attempt_timeout_seconds", 1, 3600, |s, v| s.attempt_timeout = Duration::from_secs(v)),
        ("call_timeout_seconds", 1, 3600, |s, v| s.call_timeout = Duration::from_secs(v)),
    ];
    let names = || SETTINGS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ");
    let mut s = Settings::default();
    let Some(node) = node else { return s };
    let Some(map) = node.as_map() else {
        src.error(node.pos, format!("`settings` must be a mapping, found {}", node.type_name()), format!("valid settings are: {}", names()));
        return s;
    };
    for (k, v) in map {
        let Some((_, min, max, set)) = SETTINGS.iter().find(|x| x.0 == k.name) else {
            src.error(k.pos, format!("unknown setting `{}`", excerpt(&k.name)), format!("valid settings are: {}", names()));
            continue;
        };
        match v.value {
            NodeValue::Int(i) if i >= *min as i64 && i <= *max as i64 => set(&mut s, i as u64),
            _ => src.error(
                v.pos,
                format!("`{}` must be a whole number from {min} to {max}", k.name),
                "e.g. `parallelism: 8`, `iam_propagation_timeout_seconds: 120`",
            ),
        }
    }
    s
}

fn resource(src: &mut Sources, registry: &dyn Registry, key: &Key, node: &Node) -> Option<Resource> {
    let kinds = || registry.names().join(", ");
    let Some(address) = Address::parse(&key.name) else {
        let (kind, name) = key.name.split_once('.').unwrap_or((&key.name, ""));
        if registry.get(kind).is_some() && !name.is_empty() {
            src.error(key.pos, format!("invalid resource name `{}`", excerpt(name)), "use letters, digits, `_` or `-` after the kind, e.g. `iam_role.kubectl`");
        } else {
            src.error(
                key.pos,
                format!("`{}` is not a resource address", excerpt(&key.name)),
                format!("write `KIND.NAME`, e.g. `ecr_repository.app`; kinds: {}", kinds()),
            );
        }
        return None;
    };
    let Some(kind) = registry.get(&address.kind) else {
        src.error(key.pos, format!("unknown resource kind `{}`", excerpt(&address.kind)), format!("known kinds: {}", kinds()));
        return None;
    };
    let Some(entries) = node.as_map() else {
        src.error(
            node.pos,
            format!("`{}` must be a mapping of properties, found {}", key.name, node.type_name()),
            "indent the resource's properties under its address",
        );
        return None;
    };
    let schema = kind.schema();
    let before = src.diags.0.len();
    // The properties of the AWS resource, without provision's own keys.
    let props = Node { pos: node.pos, value: NodeValue::Map(entries.iter().filter(|(k, _)| !META_KEYS.contains(&k.name.as_str())).cloned().collect()) };
    let guards = lifecycle(src, schema.fields, node.get("lifecycle"));
    let lint_ignore = checks(src, node.get("checks"));
    let help = format!("see the `{}` section of the README for its properties", schema.kind);
    check_fields(src, schema.fields, &props, &help);
    if src.diags.0.len() == before {
        for e in kind.check(&props.to_json()) {
            let at = props.locate(&e.path);
            let path = render_path(&e.path);
            let msg = if path.is_empty() { e.message } else { format!("{key}.{path}: {}", e.message, key = key.name) };
            src.error(at, msg, e.help.unwrap_or_else(|| help.clone()));
        }
    }
    (src.diags.0.len() == before).then(|| Resource { address, pos: key.pos, props, deps: BTreeSet::new(), guards, lint_ignore })
}

fn lifecycle(src: &mut Sources, fields: &[Field], node: Option<&Node>) -> Guards {
    let mut g = Guards::default();
    let Some(node) = node else { return g };
    let help = "write `lifecycle: { protect: true, ignore_changes: [FIELD, ...] }`";
    let Some(map) = node.as_map() else {
        src.error(node.pos, format!("`lifecycle` must be a mapping, found {}", node.type_name()), help);
        return g;
    };
    for (k, v) in map {
        match (k.name.as_str(), &v.value) {
            ("protect", NodeValue::Bool(b)) => g.protect = *b,
            ("ignore_changes", NodeValue::Seq(items)) => {
                for item in items {
                    match item.as_str() {
                        Some(f) if fields.iter().any(|x| x.name == f && x.name != "name") => g.ignore_changes.push(f.to_string()),
                        Some(f) => {
                            let names: Vec<&str> = fields.iter().map(|x| x.name).filter(|n| *n != "name").collect();
                            src.error(item.pos, format!("`{}` is not a field this kind can ignore", excerpt(f)), format!("fields: {}", names.join(", ")))
                        }
                        None => src.error(item.pos, format!("expected a field name, found {}", item.type_name()), help),
                    }
                }
            }
            ("protect" | "ignore_changes", _) => src.error(v.pos, format!("`{}` has the wrong type: found {}", k.name, v.type_name()), help),
            _ => src.error(k.pos, format!("unknown lifecycle key `{}`", excerpt(&k.name)), help),
        }
    }
    g
}

fn checks(src: &mut Sources, node: Option<&Node>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(node) = node else { return out };
    let help = "write `checks: { ignore: { RULE-ID: \"why this is accepted\" } }`";
    match node.get("ignore").and_then(Node::as_map) {
        Some(map) if node.as_map().is_some_and(|m| m.len() == 1) => {
            for (k, v) in map {
                match v.as_str() {
                    Some(reason) if !reason.trim().is_empty() => {
                        out.insert(k.name.clone(), reason.to_string());
                    }
                    _ => src.error(v.pos, format!("ignoring `{}` needs a reason", excerpt(&k.name)), help),
                }
            }
        }
        _ => src.error(node.pos, "`checks` must hold only `ignore`, a mapping of rule ids to reasons", help),
    }
    out
}

/// Did the user mean one of these? (edit distance at most 2)
fn suggest<'a>(word: &str, among: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn dist(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    among.map(|c| (dist(word, c), c)).filter(|(d, _)| *d <= 2).min().map(|(_, c)| c)
}

fn check_fields(src: &mut Sources, fields: &[Field], node: &Node, help: &str) {
    let Some(map) = node.as_map() else {
        src.error(node.pos, format!("expected a mapping, found {}", node.type_name()), help.to_string());
        return;
    };
    for (k, v) in map {
        match fields.iter().find(|f| f.name == k.name && f.input) {
            Some(f) => check_value(src, f, &f.ty, v, help),
            None => {
                let names: Vec<String> = fields.iter().filter(|f| f.input).map(|f| format!("`{}`", f.name)).collect();
                let h = match suggest(&k.name, fields.iter().filter(|f| f.input).map(|f| f.name)) {
                    Some(s) => format!("did you mean `{s}`? ({help})"),
                    None => help.to_string(),
                };
                src.error(k.pos, format!("unknown field `{}`, expected one of {}", excerpt(&k.name), names.join(", ")), h);
            }
        }
    }
    for f in fields.iter().filter(|f| f.required) {
        if !map.iter().any(|(k, v)| k.name == f.name && !matches!(v.value, NodeValue::Null)) {
            src.error(node.pos, format!("missing field `{}`", f.name), format!("add `{}:` ({}): {}", f.name, describe(&f.ty), f.doc));
        }
    }
}

fn check_value(src: &mut Sources, f: &Field, ty: &Ty, v: &Node, help: &str) {
    let found = || v.type_name();
    let wrong = |src: &mut Sources, expected: &str| {
        src.error(v.pos, format!("`{}`: expected {expected}, found {}", f.name, found()), format!("`{}` is {}", f.name, describe(ty)))
    };
    // A reference is a string whose value is known only once resolved: typed checks wait.
    if let NodeValue::Str(s) = &v.value {
        if interp::has_refs(s) {
            if !f.refs {
                src.error(v.pos, format!("`{}` cannot hold a `${{...}}` reference", f.name), "write the value out");
            } else if !matches!(ty, Ty::Str(_) | Ty::Enum(_) | Ty::Short(_)) {
                wrong(src, &describe(ty));
            }
            return;
        }
    }
    match (ty, &v.value) {
        (_, NodeValue::Null) if !f.required => {}
        (Ty::Str(t), NodeValue::Str(s)) => {
            if let Err(why) = check_text(s, t) {
                src.error(v.pos, format!("`{}` {why}: `{}`", f.name, excerpt(s)), format!("`{}` is {}", f.name, describe(ty)));
            }
        }
        // A number where a string is expected (`version: 1`) is its text.
        (Ty::Str(_), NodeValue::Int(_) | NodeValue::Float(_)) => {}
        (Ty::Enum(values), NodeValue::Str(s)) => {
            if !values.contains(&s.as_str()) {
                let list: Vec<String> = values.iter().map(|x| format!("`{x}`")).collect();
                let h = match suggest(s, values.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`? `{}` is one of {}", f.name, list.join(", ")),
                    None => format!("`{}` is one of {}", f.name, list.join(", ")),
                };
                src.error(v.pos, format!("unknown variant `{}`, expected one of {}", excerpt(s), list.join(", ")), h);
            }
        }
        (Ty::Int(a, b), NodeValue::Int(i)) => {
            if i < a || i > b {
                src.error(v.pos, format!("`{}`: {i} is out of range", f.name), format!("`{}` is a whole number from {a} to {b}", f.name));
            }
        }
        (Ty::Bool, NodeValue::Bool(_)) => {}
        (Ty::Bool, _) => wrong(src, "a boolean (`true` or `false`)"),
        (Ty::Tags, NodeValue::Map(m)) => {
            for (k, val) in m {
                if k.name.starts_with(RESERVED_TAG_PREFIX) {
                    src.error(
                        k.pos,
                        format!("tag key `{}` is reserved", excerpt(&k.name)),
                        "keys starting with `provision:` are provision's own; choose another key",
                    );
                } else if !matches!(val.value, NodeValue::Str(_) | NodeValue::Int(_) | NodeValue::Float(_) | NodeValue::Bool(_)) {
                    src.error(val.pos, format!("tag `{}` must be a string, found {}", excerpt(&k.name), val.type_name()), "tag values are strings");
                }
            }
        }
        (Ty::Doc(d), NodeValue::Map(_)) => {
            if let Err(why) = (d.check)(&v.to_json()) {
                src.error(v.pos, format!("`{}`: {why}", f.name), "a policy document looks like {\"Version\": \"2012-10-17\", \"Statement\": [...]}");
            }
        }
        (Ty::Keyed(fields, key), NodeValue::Seq(items)) => {
            let mut seen = BTreeSet::new();
            for item in items {
                check_fields(src, fields, item, help);
                if let Some(k) = item.get(key).and_then(Node::as_str) {
                    if !seen.insert(k.to_string()) {
                        src.error(item.pos, format!("`{}` names `{}` twice", f.name, excerpt(k)), format!("each `{key}` may appear once in `{}`", f.name));
                    }
                }
            }
        }
        (Ty::List(inner) | Ty::Set(inner), NodeValue::Seq(items)) => {
            for item in items {
                check_value(src, f, inner, item, help);
            }
        }
        (Ty::Map(inner), NodeValue::Map(m)) => {
            for (_, val) in m {
                check_value(src, f, inner, val, help);
            }
        }
        (Ty::Struct(fields), NodeValue::Map(_)) | (Ty::Short(fields), NodeValue::Map(_)) => check_fields(src, fields, v, help),
        (Ty::Short(fields), NodeValue::Str(_)) => {
            if let Some(first) = fields.first() {
                check_value(src, first, &first.ty, v, help);
            }
        }
        (ty, _) => wrong(src, &describe(ty)),
    }
}

fn render_path(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

fn references(src: &mut Sources, registry: &dyn Registry, resources: &mut [Resource], vars: &BTreeMap<String, Var>) {
    let declared: HashMap<Address, &'static dyn crate::contract::Kind> =
        resources.iter().filter_map(|r| registry.get(&r.address.kind).map(|k| (r.address.clone(), k))).collect();
    let names: Vec<String> = resources.iter().map(|r| r.address.to_string()).collect();
    for r in resources.iter_mut() {
        let mut strings = Vec::new();
        r.props.strings(&mut strings);
        for (s, pos) in strings {
            let pieces = match interp::pieces(s) {
                Ok(p) => p,
                Err((off, msg)) => {
                    let at = src.pos_in_string(pos, off);
                    src.error(at, msg, "close the reference with `}`, e.g. `${var.name}`");
                    continue;
                }
            };
            for p in pieces {
                let Piece::Expr(expr, off) = p else { continue };
                // Located only when there is something to report: finding a column reads the line.
                let at = |src: &Sources| src.pos_in_string(pos, off);
                match interp::parse_ref(expr) {
                    Err(msg) => {
                        src.error(at(src), msg, "references look like `${var.NAME}`, `${account_id}`, `${region}`, `${stack}` or `${KIND.NAME.ATTRIBUTE}`")
                    }
                    Ok(Ref::Var(v)) if !vars.contains_key(&v) => {
                        let known = vars.keys().cloned().collect::<Vec<_>>().join(", ");
                        src.error(
                            at(src),
                            format!("undefined variable `{}`", excerpt(&v)),
                            if known.is_empty() { "declare it under `vars:`".to_string() } else { format!("declare it under `vars:` (declared: {known})") },
                        )
                    }
                    Ok(Ref::Attr { kind, name, attr }) => {
                        let target = Address { kind: kind.clone(), name: name.clone() };
                        match declared.get(&target) {
                            None => {
                                src.error(at(src), format!("reference to undeclared resource `{target}`"), format!("declared resources: {}", names.join(", ")))
                            }
                            Some(k) if !k.schema().has_attribute(&attr) => {
                                let attrs: Vec<&str> = k.schema().attributes.iter().map(|a| a.name).collect();
                                src.error(
                                    at(src),
                                    format!("`{kind}` has no attribute `{}`", excerpt(&attr)),
                                    format!("attributes of `{kind}`: {}", attrs.join(", ")),
                                )
                            }
                            Some(_) if target == r.address => {
                                src.error(at(src), format!("`{target}` refers to itself"), "a resource cannot use its own attributes; write the value out")
                            }
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

fn duplicate_names(src: &mut Sources, resources: &[Resource]) {
    let mut seen: HashMap<(String, String), &Resource> = HashMap::new();
    for r in resources {
        let Some(name) = r.props.get("name").and_then(Node::as_str) else { continue };
        if let Some(first) = seen.get(&(r.address.kind.clone(), name.to_string())) {
            let first_at = src.loc(first.pos);
            let pos = r.props.get("name").map(|n| n.pos).unwrap_or(r.pos);
            src.error(
                pos,
                format!("duplicate name: `{}` and `{}` both declare {} `{}`", first.address, r.address, r.address.kind, excerpt(name)),
                format!("names are identities in AWS; rename one of them (the first is at {first_at})"),
            );
        } else {
            seen.insert((r.address.kind.clone(), name.to_string()), r);
        }
    }
}

fn cycles(src: &mut Sources, resources: &[Resource]) {
    let by_addr: HashMap<&Address, &Resource> = resources.iter().map(|r| (&r.address, r)).collect();
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state: HashMap<&Address, u8> = HashMap::new();
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
        let mut path = Vec::new();
        if let Some(cycle) = visit(&r.address, &by_addr, &mut state, &mut path) {
            let first = by_addr[cycle[0]];
            let text = cycle.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(" -> ");
            src.error(
                first.pos,
                format!("reference cycle: {text}"),
                "resources cannot depend on each other in a loop; break it by writing one of the values out",
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        for ok in ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "us-isob-east-1"] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in ["../../evil", "us-east", "US-EAST-1", "us_east_1", "", "us-east-1/x"] {
            assert!(!valid_region(bad), "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("scan_on_pus", ["name", "scan_on_push"].into_iter()), Some("scan_on_push"));
        assert_eq!(suggest("zzz", ["name"].into_iter()), None);
    }
}
