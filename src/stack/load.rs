//! Read a stack file and the policy files it includes into one positioned tree. Inputs never reach
//! outside the project: an include names a regular file inside the project root (no absolute path,
//! no `..` or symlink out of it), and every file is size-capped and must be UTF-8.

use super::node::{self, Node, NodeValue, Pos};
use super::source::Sources;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The largest stack or policy file read (IAM's own limits are far below).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// A stack file parsed, includes resolved; not yet checked against the kinds.
pub struct Parsed {
    pub sources: Sources,
    pub root: Node,
    /// Policy paths are relative to it.
    pub project_root: PathBuf,
}

/// The project root: the directory holding `stacks/` (or `examples/`) when the stack lives there,
/// otherwise the stack file's own directory.
pub fn project_root(stack_file: &Path) -> PathBuf {
    let dir = stack_file.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "stacks" || n == "examples") {
        dir.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        dir
    }
}

/// Why a file cannot be read as input, in words for an error message.
fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("it is {} bytes; the limit is {MAX_FILE_BYTES}", meta.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("it is larger than {MAX_FILE_BYTES} bytes; the limit is {MAX_FILE_BYTES}"));
    }
    Ok(bytes)
}

/// UTF-8 text, or the position of the first byte that is not.
fn utf8(bytes: Vec<u8>) -> Result<String, (u64, u64)> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let text = String::from_utf8_lossy(valid);
        let line = text.matches('\n').count() as u64 + 1;
        let col = text.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) as u64 + 1;
        (line, col)
    })
}

pub fn load(path: &Path) -> crate::Result<Parsed> {
    let bytes = read_capped(path).map_err(|why| {
        let help = if why.contains("the limit is") {
            "keep the stack small: move policy documents into policies/*.json and include them with `{ file: policies/NAME.json }`"
        } else {
            "pass a readable stack file (a regular file) with -s/--stack FILE"
        };
        crate::Error::user(format!("cannot read stack file {}: {why}", path.display()), help)
    })?;
    load_bytes(path, bytes)
}

pub fn load_bytes(path: &Path, bytes: Vec<u8>) -> crate::Result<Parsed> {
    let mut src = Sources { files: vec![path.to_path_buf()], texts: vec![String::new()], ..Default::default() };
    let text = match utf8(bytes) {
        Ok(t) => t,
        Err((line, col)) => {
            src.error(Pos { file: 0, line, col }, "the stack file is not valid UTF-8", "save it as UTF-8 text");
            return Err(crate::Error::Stack(src.diags));
        }
    };
    src.texts[0] = text;
    let mut root = match node::parse_yaml(&src.texts[0]) {
        Ok(n) => n,
        Err(e) => {
            let (line, col) = e.location().map(|p| (p.line(), p.column())).unwrap_or((1, 1));
            let msg = yaml_message(&e);
            let help = if msg.starts_with("duplicate mapping key") {
                "each key may appear once in a mapping; a resource address (`KIND.NAME`) must be unique in the stack"
            } else {
                "fix the YAML syntax at this position"
            };
            src.error(Pos { file: 0, line, col }, format!("invalid YAML: {msg}"), help);
            return Err(crate::Error::Stack(src.diags));
        }
    };
    let project_root = project_root(path);
    if let Some(resources) = root_resources(&mut root) {
        for (_, props) in resources.iter_mut() {
            include_files(&mut src, &project_root, props);
        }
    }
    if src.has_errors() {
        return Err(crate::Error::Stack(src.diags));
    }
    Ok(Parsed { sources: src, root, project_root })
}

fn root_resources(root: &mut Node) -> Option<&mut Vec<(node::Key, Node)>> {
    let NodeValue::Map(top) = &mut root.value else { return None };
    match &mut top.iter_mut().find(|(k, _)| k.name == "resources")?.1.value {
        NodeValue::Map(m) => Some(m),
        _ => None,
    }
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
    crate::error::diag::excerpt(&msg)
}

/// The file an include names, if it is a regular file inside the project root.
fn include_path(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Err("absolute paths are not allowed".into());
    }
    if p.components().any(|c| matches!(c, Component::ParentDir | Component::Prefix(_))) {
        return Err("`..` is not allowed".into());
    }
    let joined = root.join(p);
    let base = if root.as_os_str().is_empty() { Path::new(".") } else { root };
    let real = base.join(p).canonicalize().map_err(|e| e.to_string())?;
    let real_root = base.canonicalize().map_err(|e| e.to_string())?;
    if !real.starts_with(&real_root) {
        return Err("it resolves (through a symbolic link) to a file outside the project".into());
    }
    Ok(joined)
}

/// Replace every `{file: path}` mapping by the parsed JSON file it names.
fn include_files(src: &mut Sources, root: &Path, node: &mut Node) {
    let include = match &node.value {
        NodeValue::Map(m) if m.len() == 1 && m[0].0.name == "file" => Some(m[0].1.clone()),
        _ => None,
    };
    if let Some(f) = include {
        let Some(rel) = f.as_str() else {
            src.error(f.pos, format!("`file` must be a path string, found {}", f.type_name()), "write `{ file: policies/NAME.json }`");
            return;
        };
        let shown = crate::error::diag::excerpt(rel);
        let help = format!("name a JSON file inside the project (root: {}) by a relative path, e.g. `policies/NAME.json`", display(root));
        let bytes = include_path(root, rel).and_then(|p| read_capped(&p).map(|b| (p, b)));
        let (path, bytes) = match bytes {
            Ok(pb) => pb,
            Err(why) => {
                src.error(f.pos, format!("cannot read policy file `{shown}`: {why}"), help);
                return;
            }
        };
        let id = src.files.len() as u32;
        src.files.push(path);
        match utf8(bytes) {
            Ok(text) => src.texts.push(text),
            Err((line, col)) => {
                src.texts.push(String::new());
                src.error(Pos { file: id, line, col }, "the policy file is not valid UTF-8", "save it as UTF-8 text");
                return;
            }
        }
        match node::parse_json(&src.texts[id as usize]) {
            Ok(mut included) => {
                included.set_file(id);
                *node = included;
            }
            Err((msg, line, col)) => {
                src.error(Pos { file: id, line, col }, format!("invalid JSON: {msg}"), "fix the policy document; it must be a single JSON object");
            }
        }
        return;
    }
    match &mut node.value {
        NodeValue::Seq(s) => s.iter_mut().for_each(|n| include_files(src, root, n)),
        NodeValue::Map(m) => m.iter_mut().for_each(|(_, n)| include_files(src, root, n)),
        _ => {}
    }
}

fn display(root: &Path) -> String {
    if root.as_os_str().is_empty() {
        ".".into()
    } else {
        root.display().to_string()
    }
}
