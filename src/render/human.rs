//! The plan as people read it, in the style of `terraform plan`:
//! `+ create`, `~ update` with field diffs, `-/+ replace` with the reason, `- destroy`.

use super::Style;
use crate::contract::{Action, DeleteReason, FieldChange, Mode, Plan, Step, OWNER_TAG, RESERVED_TAG_PREFIX, UNKNOWN};
use serde_json::Value;
use std::fmt::Write;

pub fn render(plan: &Plan, style: Style) -> String {
    render_with(plan, style, "")
}

/// The plan with `section` (e.g. the problems `check` found) printed before its summary.
pub fn render_with(plan: &Plan, style: Style, section: &str) -> String {
    let mut out = String::new();
    let verb = match plan.mode {
        Mode::Apply => "plan",
        Mode::Destroy => "destroy plan",
    };
    let _ = writeln!(
        out,
        "{} for stack {} (account {}, region {})",
        style.bold(&format!("provision {verb}")),
        style.bold(&plan.stack),
        plan.account_id,
        plan.region
    );
    if let Some(p) = &plan.partial {
        let list = |v: &[crate::contract::Address]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
        let mut what = Vec::new();
        if !p.targets.is_empty() {
            what.push(format!("only {} and what they depend on", list(&p.targets)));
        }
        if !p.excludes.is_empty() {
            what.push(format!("everything but {} and what depends on them", list(&p.excludes)));
        }
        let _ = writeln!(out, "{} this plan is partial: {}", style.yellow("Note:"), what.join("; "));
    }
    for (name, source) in &plan.vars {
        let _ = writeln!(out, "{} var.{name} is set by {source}", style.dim("•"));
    }
    for n in &plan.notes {
        let _ = writeln!(out, "{} {n}", style.dim("•"));
    }
    out.push('\n');
    for s in &plan.steps {
        step(&mut out, s, plan, style);
    }
    if !out.ends_with("\n\n") {
        out.push('\n');
    }
    out.push_str(section);
    let c = plan.counts();
    if !plan.has_changes() {
        let _ = writeln!(out, "{}", style.green("No changes."));
        if c.unowned == 0 {
            let _ = writeln!(out, "The account matches stack {}.", plan.stack);
        }
    } else {
        let _ = writeln!(out, "{} {} to add, {} to change, {} to destroy.", style.bold("Plan:"), c.add, c.change, c.destroy);
    }
    if c.unowned > 0 {
        let _ = writeln!(
            out,
            "{} {} resource{} exist{} but {} not owned by this stack and will not be touched.",
            style.yellow("Warning:"),
            c.unowned,
            if c.unowned == 1 { "" } else { "s" },
            if c.unowned == 1 { "s" } else { "" },
            if c.unowned == 1 { "is" } else { "are" },
        );
    }
    out
}

fn step(out: &mut String, s: &Step, plan: &Plan, style: Style) {
    let head = format!("{} ({})", s.address, s.name);
    match s.action {
        Action::Create => {
            let _ = writeln!(out, "  {} {head} will be created", style.green("+"));
            if let Some(Value::Object(m)) = &s.desired {
                // The name is in the heading already.
                let m: serde_json::Map<String, Value> =
                    m.iter().filter(|(k, v)| !(*k == "name" && v.as_str() == Some(&s.name))).map(|(k, v)| (k.clone(), without_reserved_tags(k, v))).collect();
                created(out, &Value::Object(m), style);
            }
        }
        Action::Update => {
            let _ = writeln!(out, "  {} {head} will be updated in place", style.yellow("~"));
            changes(out, &s.changes, style);
        }
        Action::Replace => {
            let _ = writeln!(out, "  {} {head} must be replaced", style.red("-/+"));
            for r in &s.reasons {
                let _ = writeln!(out, "      {} {r}", style.bold("reason:"));
            }
            if let Some(old) = s.live.as_ref().filter(|l| l.identity != s.identity) {
                let _ =
                    writeln!(out, "      {} {} goes once nothing refers to it", style.bold("old:"), old.identity.rsplit(' ').next().unwrap_or(&old.identity));
            }
            changes(out, &s.changes, style);
        }
        Action::Delete => {
            let why = match &s.delete_reason {
                Some(DeleteReason::Removed) => " (no longer in the stack file)".to_string(),
                Some(DeleteReason::Duplicate { keep }) => format!(" (a duplicate: {keep} stays)"),
                _ => String::new(),
            };
            let _ = writeln!(out, "  {} {head} will be destroyed{why}", style.red("-"));
        }
        Action::NoOp => {}
        Action::Unowned => {
            let whose = match &s.owner {
                Some(o) => format!("it belongs to stack `{o}`"),
                None => format!("it has no `{OWNER_TAG}` tag"),
            };
            let _ = writeln!(out, "  {} {head} exists but is not this stack's: {whose}", style.yellow("!"));
            let what = match plan.mode {
                Mode::Apply => "it will not be changed, and apply refuses to run until this is settled",
                Mode::Destroy => "it will not be deleted",
            };
            let _ = writeln!(out, "      {what}.");
            let adopt = match &s.owner {
                Some(o) => format!("provision adopt {} --from-stack {o}", s.address),
                None => format!("provision adopt {}", s.address),
            };
            let _ = writeln!(
                out,
                "      {} to adopt it, add the tag `{OWNER_TAG}={}` to it (`{adopt}` shows the differences, then does it); otherwise rename it in the stack",
                style.bold("help:"),
                plan.stack
            );
        }
    }
    for n in &s.notes {
        let _ = writeln!(out, "  {} {}: {n}", style.dim("•"), s.address);
    }
    // A bare delete is one line; everything else is set apart by a blank line.
    let bare_delete = s.action == Action::Delete && s.notes.is_empty();
    if s.action != Action::NoOp && !bare_delete {
        out.push('\n');
    }
}

/// Field changes, one line each (a unified diff for texts and big values).
pub fn changes(out: &mut String, changes: &[FieldChange], style: Style) {
    for c in changes {
        match (&c.before, &c.after) {
            (Value::Null, after) => value_line(out, "+", &c.path, after, style),
            (before, Value::Null) => value_line(out, "-", &c.path, before, style),
            (Value::String(b), Value::String(a)) if b.contains('\n') || a.contains('\n') => {
                let _ = writeln!(out, "      {} {}:", style.yellow("~"), c.path);
                unified_text(out, b, a, style);
            }
            (before, after) if is_big(before) || is_big(after) => {
                let _ = writeln!(out, "      {} {}:", style.yellow("~"), c.path);
                unified_text(out, &pretty(before), &pretty(after), style);
            }
            (before, after) => {
                let _ = writeln!(out, "      {} {}: {} -> {}", style.yellow("~"), c.path, scalar(before), scalar(after));
            }
        }
    }
}

/// Tags as the user wrote them: provision's own are not news.
fn without_reserved_tags(key: &str, v: &Value) -> Value {
    match v {
        Value::Object(m) if key == "tags" => {
            Value::Object(m.iter().filter(|(k, _)| !k.starts_with(RESERVED_TAG_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        other => other.clone(),
    }
}

fn value_line(out: &mut String, sign: &str, key: &str, v: &Value, style: Style) {
    let painted = if sign == "+" { style.green(sign) } else { style.red(sign) };
    let multiline = v.as_str().filter(|s| s.contains('\n'));
    if is_big(v) || multiline.is_some() {
        let text = multiline.map(str::to_string).unwrap_or_else(|| pretty(v));
        let _ = writeln!(out, "      {painted} {key}:");
        for line in text.lines() {
            let _ = writeln!(out, "          {line}");
        }
    } else {
        let _ = writeln!(out, "      {painted} {key}: {}", scalar(v));
    }
}

/// The values of a resource to be created, compactly. A nested value too long for a line is
/// shown field by field (`environment.image`, list items by their `name`); the fields of one
/// object share lines (`a: 1, b: "x"`), under a heading naming the object when it is nested; a
/// policy document is one line per statement. The stack file holds the full text; `--json` too.
fn created(out: &mut String, v: &Value, style: Style) {
    let plus = style.green("+");
    let mut pending: Vec<(String, Value)> = Vec::new();
    let mut parent = String::new();
    // Plain top-level fields first, so they share lines; then documents and nested values.
    let (plain, rest): (Vec<_>, Vec<_>) = entries("", "", v).into_iter().partition(|(up, _, v)| up.is_empty() && statements(v).is_none());
    for (up, key, v) in plain.into_iter().chain(rest) {
        if statements(&v).is_some() || up != parent {
            fields(out, &parent, &std::mem::take(&mut pending), style);
        }
        if let Some(statements) = statements(&v) {
            let path = join(&up, &key);
            match statements.as_slice() {
                [one] => {
                    let _ = writeln!(out, "      {plus} {path}: {}", statement(one));
                }
                all => {
                    let _ = writeln!(out, "      {plus} {path}:");
                    for s in all {
                        let _ = writeln!(out, "          {}", statement(s));
                    }
                }
            }
            continue;
        }
        parent = up;
        pending.push((key, v));
    }
    fields(out, &parent, &pending, style);
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Fields of one object, as many to a line as fit: top-level ones each line marked `+`, nested
/// ones under a `+ parent:` heading (or on one line with their path when there is only one).
fn fields(out: &mut String, parent: &str, items: &[(String, Value)], style: Style) {
    let plus = style.green("+");
    match items {
        [] => return,
        [(k, v)] if !parent.is_empty() => {
            let _ = writeln!(out, "      {plus} {parent}.{k}: {}", flat(v));
            return;
        }
        _ => {}
    }
    let (lead, pad) = if parent.is_empty() { (format!("      {plus} "), 8) } else { ("          ".to_string(), 10) };
    if !parent.is_empty() {
        let _ = writeln!(out, "      {plus} {parent}:");
    }
    let mut line = String::new();
    for (k, v) in items {
        let item = format!("{k}: {}", flat(v));
        if !line.is_empty() && pad + line.len() + 2 + item.len() > WIDTH {
            let _ = writeln!(out, "{lead}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(&item);
    }
    let _ = writeln!(out, "{lead}{line}");
}

/// The values worth a line each, as (parent path, key, value): what fits on a line stays whole;
/// bigger nested objects and lists of objects are split into their fields and items.
fn entries(parent: &str, key: &str, v: &Value) -> Vec<(String, String, Value)> {
    let path = join(parent, key);
    let fits = 8 + path.len() + 2 + flat(v).len() <= WIDTH;
    match v {
        _ if is_empty(v) => vec![],
        _ if statements(v).is_some() => vec![(parent.to_string(), key.to_string(), v.clone())],
        // The resource itself, always split into its fields.
        Value::Object(m) if path.is_empty() => m.iter().flat_map(|(k, x)| entries("", k, x)).collect(),
        // An object of plain values stays whole, however long: splitting it saves nothing.
        Value::Object(m) if !fits && m.values().any(|x| x.is_object() || x.is_array()) => m.iter().flat_map(|(k, x)| entries(&path, k, x)).collect(),
        Value::Array(a) if !fits && a.iter().all(Value::is_object) => a
            .iter()
            .enumerate()
            .flat_map(|(i, x)| match (x.get("name").and_then(Value::as_str), x) {
                // A list item is known by its `name`, which is then not repeated as a field.
                (Some(name), Value::Object(m)) => {
                    let rest: serde_json::Map<String, Value> = m.iter().filter(|(k, _)| *k != "name").map(|(k, v)| (k.clone(), v.clone())).collect();
                    entries(parent, &format!("{key}[{name}]"), &Value::Object(rest))
                }
                _ => entries(parent, &format!("{key}[{i}]"), x),
            })
            .collect(),
        _ => vec![(parent.to_string(), key.to_string(), v.clone())],
    }
}

/// Nothing worth a line: null, `[]`, `{}`.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The statements of a policy document, if `v` is one.
fn statements(v: &Value) -> Option<Vec<&Value>> {
    match v.get("Statement")? {
        Value::Array(a) => Some(a.iter().collect()),
        one @ Value::Object(_) => Some(vec![one]),
        _ => None,
    }
}

/// `[Sid] Allow a, b to PRINCIPAL on r1, r2 when {...}` on one line.
fn statement(s: &Value) -> String {
    let list = |v: &Value| match v {
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| flat(x))).collect::<Vec<_>>().join(", "),
        Value::String(s) => s.clone(),
        other => flat(other),
    };
    let mut parts = Vec::new();
    if let Some(sid) = s.get("Sid").and_then(Value::as_str).filter(|x| !x.is_empty()) {
        parts.push(format!("[{sid}]"));
    }
    parts.push(s.get("Effect").map(list).unwrap_or_else(|| "?".into()));
    for (key, word) in
        [("Action", ""), ("NotAction", "all but "), ("Principal", "to "), ("NotPrincipal", "to all but "), ("Resource", "on "), ("NotResource", "on all but ")]
    {
        if let Some(x) = s.get(key) {
            let text = match (key, x) {
                ("Principal" | "NotPrincipal", Value::Object(m)) => m.iter().map(|(k, v)| format!("{k} {}", list(v))).collect::<Vec<_>>().join(", "),
                _ => list(x),
            };
            parts.push(format!("{word}{text}"));
        }
    }
    if let Some(c) = s.get("Condition") {
        parts.push(format!("when {}", flat(c)));
    }
    parts.join(" ")
}

fn is_big(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => a.iter().any(|x| x.is_object() || x.is_array()) || a.len() > 3,
        _ => false,
    }
}

fn scalar(v: &Value) -> String {
    flat(v)
}

/// JSON for people: a value that fits on a line stays on one line (a policy statement, a short
/// list), bigger ones one item a line. Keys keep their order: the user's own for the stack's
/// values, AWS's (which keeps what was sent) for live ones.
fn pretty(v: &Value) -> String {
    let mut out = String::new();
    write_pretty(&mut out, v, 0);
    out
}

const WIDTH: usize = 100;

/// One-line JSON with a space after `:` and `,`, as people write it.
fn flat(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m.iter().map(|(k, x)| format!("{}: {}", Value::String(k.clone()), flat(x))).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(flat).collect::<Vec<_>>().join(", ")),
        // Not a string the user wrote: shown as Terraform shows it.
        Value::String(s) if s == UNKNOWN => UNKNOWN.to_string(),
        other => other.to_string(),
    }
}

fn write_pretty(out: &mut String, v: &Value, indent: usize) {
    let flat = flat(v);
    let pad = |n: usize| " ".repeat(n);
    match v {
        Value::Object(m) if !m.is_empty() && flat.len() + indent > WIDTH => {
            out.push_str("{\n");
            for (i, (k, x)) in m.iter().enumerate() {
                out.push_str(&format!("{}{}: ", pad(indent + 2), Value::String(k.clone())));
                write_pretty(out, x, indent + 2);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", pad(indent)));
        }
        Value::Array(a) if !a.is_empty() && flat.len() + indent > WIDTH => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(indent + 2));
                write_pretty(out, x, indent + 2);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", pad(indent)));
        }
        _ => out.push_str(&flat),
    }
}

/// A unified diff of two texts (pretty JSON of values, or YAML).
fn unified_text(out: &mut String, b: &str, a: &str, style: Style) {
    let diff = similar::TextDiff::from_lines(b, a);
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        let _ = writeln!(out, "          {}", style.dim(&hunk.header().to_string()));
        for change in hunk.iter_changes() {
            let line = change.value().trim_end_matches('\n');
            let text = match change.tag() {
                similar::ChangeTag::Delete => style.red(&format!("-{line}")),
                similar::ChangeTag::Insert => style.green(&format!("+{line}")),
                similar::ChangeTag::Equal => format!(" {line}"),
            };
            let _ = writeln!(out, "          {text}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shown(v: Value) -> String {
        let mut out = String::new();
        created(&mut out, &v, Style { color: false });
        out
    }

    #[test]
    fn a_policy_on_create_is_one_line_per_statement() {
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]},
            {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:SourceAccount": "1"}}}
        ]});
        assert_eq!(
            shown(json!({"trust_policy": doc})),
            "      + trust_policy:\n          [Read] Allow s3:GetObject, s3:PutObject on arn:aws:s3:::b, arn:aws:s3:::b/*\n          Allow sts:AssumeRole to Service codebuild.amazonaws.com when {\"StringEquals\": {\"aws:SourceAccount\": \"1\"}}\n"
        );
    }

    #[test]
    fn nested_values_on_create_are_one_line_per_field_and_list_items_go_by_name() {
        let long = "x".repeat(60);
        let v = json!([{"name": "Source", "actions": [{"name": "Get", "provider": long, "region": null, "input_artifacts": []}]}]);
        assert_eq!(shown(json!({"stages": v})), format!("      + stages[Source].actions[Get].provider: \"{long}\"\n"));
        let small = json!({"group_name": "g", "stream_name": "s"});
        assert_eq!(shown(json!({"logs": small})), "      + logs: {\"group_name\": \"g\", \"stream_name\": \"s\"}\n");
    }

    #[test]
    fn fields_share_lines_plain_ones_first_and_a_one_statement_policy_is_one_line() {
        let doc = json!({"Statement": {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}});
        let env = json!({"image": "x".repeat(50), "compute_type": "BUILD_GENERAL1_SMALL", "type": "LINUX_CONTAINER", "privileged_mode": true, "variables": {"A": "1"}});
        let v = json!({"path": "/", "trust_policy": doc, "environment": env, "tags": {}, "arn": UNKNOWN, "managed_policies": ["a", "b"]});
        assert_eq!(
            shown(v),
            format!(
                "      + path: \"/\", arn: (known after apply), managed_policies: [\"a\", \"b\"]
      + trust_policy: Allow sts:AssumeRole to Service codebuild.amazonaws.com
      + environment:
          image: \"{}\"
          compute_type: \"BUILD_GENERAL1_SMALL\", type: \"LINUX_CONTAINER\", privileged_mode: true
          variables: {{\"A\": \"1\"}}
",
                "x".repeat(50)
            )
        );
    }
}
