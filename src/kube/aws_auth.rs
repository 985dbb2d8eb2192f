//! Editing `mapRoles` of the aws-auth ConfigMap without touching anyone else's entry.
//!
//! The text is split into entries at the top-level `- ` items; only the entry for our role is
//! replaced, added or removed, so every other entry keeps its exact bytes: order, comments,
//! unknown fields, `{{EC2PrivateDNSName}}` templates. A malformed `mapRoles` is refused, never
//! rewritten: a broken aws-auth locks every node and user out of the cluster.

use serde_json::Value;

/// One top-level entry of `mapRoles`, by byte range.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub start: usize,
    pub end: usize,
    pub rolearn: String,
    pub username: Option<String>,
    pub groups: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MapRoles {
    text: String,
    /// Indentation of the `- ` items (usually none).
    indent: String,
    pub entries: Vec<Entry>,
}

/// `arn:aws:iam::1:role/path/to/Name` -> `arn:aws:iam::1:role/Name`: the authenticator matches
/// the role ARN without its path.
pub fn strip_path(arn: &str) -> String {
    match arn.split_once(":role/") {
        Some((head, rest)) => format!("{head}:role/{}", rest.rsplit('/').next().unwrap_or(rest)),
        None => arn.to_string(),
    }
}

/// A YAML scalar: plain when safe, double-quoted (JSON string syntax is valid YAML) otherwise.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || ":/._@-=+".contains(c))
        && !s.starts_with(|c: char| "-:@".contains(c))
        && !s.ends_with(':')
        && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(&s.to_ascii_lowercase().as_str())
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("a string serialises")
    }
}

/// Our entry as YAML, in the layout EKS itself writes.
pub fn render_entry(indent: &str, rolearn: &str, username: &str, groups: &[String]) -> String {
    let mut s = format!("{indent}- rolearn: {}\n{indent}  username: {}\n", scalar(rolearn), scalar(username));
    if groups.is_empty() {
        s.push_str(&format!("{indent}  groups: []\n"));
    } else {
        s.push_str(&format!("{indent}  groups:\n"));
        for g in groups {
            s.push_str(&format!("{indent}  - {}\n", scalar(g)));
        }
    }
    s
}

fn parse_yaml(text: &str) -> Result<Value, String> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())
}

fn entry_fields(v: &Value, what: &str) -> Result<(String, Option<String>, Vec<String>), String> {
    let m = v.as_object().ok_or_else(|| format!("{what} is not a mapping"))?;
    let rolearn = m.get("rolearn").and_then(Value::as_str).ok_or_else(|| format!("{what} has no `rolearn`"))?.to_string();
    let username = m.get("username").and_then(Value::as_str).map(str::to_string);
    let groups = match m.get("groups") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            a.iter().map(|g| g.as_str().map(str::to_string).ok_or_else(|| format!("{what}: `groups` must be strings"))).collect::<Result<_, _>>()?
        }
        Some(_) => return Err(format!("{what}: `groups` must be a list")),
    };
    Ok((rolearn, username, groups))
}

pub fn parse(text: &str) -> Result<MapRoles, String> {
    let whole = if text.trim().is_empty() { Value::Array(vec![]) } else { parse_yaml(text)? };
    let Value::Array(items) = whole else { return Err("mapRoles is not a YAML list".into()) };
    let first = text.lines().map(str::trim_start).find(|l| !l.is_empty() && !l.starts_with('#'));
    if first.is_some_and(|l| l.starts_with('[')) {
        if items.is_empty() {
            // `[]`: nothing to keep; our entry replaces it.
            return Ok(MapRoles { text: String::new(), indent: String::new(), entries: vec![] });
        }
        return Err("mapRoles is written in flow style (`[...]`); provision edits block-style lists only, so that other entries keep their exact text".into());
    }
    // Start offsets of the top-level items.
    let mut indent: Option<String> = None;
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_start_matches(' ');
        let ind = &line[..line.len() - body.len()];
        if body.starts_with("- ") || body.trim_end() == "-" {
            let top = indent.get_or_insert_with(|| ind.to_string());
            if ind == top.as_str() {
                starts.push(offset);
            }
        }
        offset += line.len();
    }
    if starts.len() != items.len() {
        return Err(format!("could not split mapRoles into its {} entries", items.len()));
    }
    let mut entries = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let (rolearn, username, groups) = entry_fields(&items[i], &format!("entry {}", i + 1))?;
        entries.push(Entry { start, end, rolearn, username, groups });
    }
    Ok(MapRoles { text: text.to_string(), indent: indent.unwrap_or_default(), entries })
}

impl MapRoles {
    /// Entries mapping this role (compared without the role path).
    pub fn find(&self, arn: &str) -> Vec<&Entry> {
        let want = strip_path(arn);
        self.entries.iter().filter(|e| strip_path(&e.rolearn) == want).collect()
    }

    /// Text with our entry for `arn` set (replaced in place, or appended at the end).
    pub fn upsert(&self, arn: &str, username: &str, groups: &[String]) -> String {
        let arn = strip_path(arn);
        let rendered = render_entry(&self.indent, &arn, username, groups);
        match self.find(&arn).first() {
            Some(e) => {
                // Keep what trails the entry (blank lines, a comment before the next one).
                let old = &self.text[e.start..e.end];
                let trailing = trailing_trivia(old);
                format!("{}{}{}{}", &self.text[..e.start], rendered, trailing, &self.text[e.end..])
            }
            None => {
                let mut t = self.text.clone();
                if !t.is_empty() && !t.ends_with('\n') {
                    t.push('\n');
                }
                t.push_str(&rendered);
                t
            }
        }
    }

    /// Text without the entry for `arn`.
    pub fn remove(&self, arn: &str) -> String {
        match self.find(arn).first() {
            // What trails our entry (a comment introducing the next one) is not ours to remove.
            Some(e) => format!("{}{}{}", &self.text[..e.start], trailing_trivia(&self.text[e.start..e.end]), &self.text[e.end..]),
            None => self.text.clone(),
        }
    }
}

/// Blank and comment lines at the end of an entry's text.
fn trailing_trivia(entry: &str) -> &str {
    let mut cut = entry.len();
    for line in entry.split_inclusive('\n').collect::<Vec<_>>().into_iter().rev() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            cut -= line.len();
        } else {
            break;
        }
    }
    &entry[cut..]
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "- groups:\n  - system:bootstrappers\n  - system:nodes\n  rolearn: arn:aws:iam::1:role/eksctl-node-NodeInstanceRole-X\n  username: system:node:{{EC2PrivateDNSName}}\n";
    const ODD: &str =
        "# platform team, do not remove\n- rolearn: arn:aws:iam::1:role/ops\n  username: ops # on-call\n  groups: [ops-team]\n  x-custom: keep me\n\n";

    #[test]
    fn upsert_appends_and_keeps_other_entries_byte_for_byte() {
        let text = format!("{NODE}{ODD}");
        let m = parse(&text).unwrap();
        assert_eq!(m.entries.len(), 2);
        let out = m.upsert("arn:aws:iam::1:role/EksCodeBuildKubectlRole", "build", &["system:masters".into()]);
        assert!(out.starts_with(&text), "existing text is a prefix of the new text:\n{out}");
        assert!(out.ends_with("- rolearn: arn:aws:iam::1:role/EksCodeBuildKubectlRole\n  username: build\n  groups:\n  - system:masters\n"));
        assert_eq!(parse(&out).unwrap().entries.len(), 3);
    }

    #[test]
    fn upsert_replaces_only_our_entry() {
        let ours = render_entry("", "arn:aws:iam::1:role/K", "build", &["system:masters".into()]);
        let text = format!("{NODE}{ours}{ODD}");
        let out = parse(&text).unwrap().upsert("arn:aws:iam::1:role/K", "deployer", &["deployers".into()]);
        assert_eq!(out, format!("{NODE}- rolearn: arn:aws:iam::1:role/K\n  username: deployer\n  groups:\n  - deployers\n{ODD}"));
    }

    #[test]
    fn remove_takes_out_exactly_our_entry() {
        let ours = render_entry("", "arn:aws:iam::1:role/K", "build", &["system:masters".into()]);
        let text = format!("{NODE}{ours}{ODD}");
        assert_eq!(parse(&text).unwrap().remove("arn:aws:iam::1:role/K"), format!("{NODE}{ODD}"));
    }

    #[test]
    fn role_paths_are_stripped() {
        assert_eq!(strip_path("arn:aws:iam::1:role/team/ci/K"), "arn:aws:iam::1:role/K");
        let out = parse(NODE).unwrap().upsert("arn:aws:iam::1:role/team/K", "build", &[]);
        assert!(out.contains("rolearn: arn:aws:iam::1:role/K\n"), "{out}");
        assert_eq!(parse(&out).unwrap().find("arn:aws:iam::1:role/other/path/K").len(), 1);
    }

    #[test]
    fn malformed_map_roles_is_refused() {
        assert!(parse("- rolearn: [unclosed\n").is_err());
        assert!(parse("rolearn: x\n").is_err(), "not a list");
        assert!(parse("- username: x\n").unwrap_err().contains("rolearn"));
        assert!(parse("[{rolearn: a}]").unwrap_err().contains("flow style"));
    }

    #[test]
    fn empty_forms_are_fine() {
        for t in ["", "[]\n", "\n"] {
            let out = parse(t).unwrap().upsert("arn:aws:iam::1:role/K", "build", &["g".into()]);
            assert_eq!(parse(&out).unwrap().entries.len(), 1, "{t:?} -> {out:?}");
        }
    }

    #[test]
    fn templates_and_odd_values_are_quoted() {
        let e = render_entry("", "arn:aws:iam::1:role/K", "system:node:{{EC2PrivateDNSName}}", &["yes".into()]);
        let m = parse(&e).unwrap();
        assert_eq!(m.entries[0].username.as_deref(), Some("system:node:{{EC2PrivateDNSName}}"));
        assert_eq!(m.entries[0].groups, vec!["yes".to_string()]);
    }
}
