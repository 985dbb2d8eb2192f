//! The plan as people read it, in the style of `terraform plan`:
//! `+ create`, `~ update` with field diffs, `-/+ replace` with the reason, `- destroy`.

use super::Style;
use crate::engine::diff::FieldChange;
use crate::engine::plan::{Action, Mode, Plan, Step};
use crate::resources::OWNER_TAG;
use serde_json::Value;
use std::fmt::Write;
use std::io::Write as _;
use std::time::Duration;

pub fn render(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let verb = match plan.mode {
        Mode::Apply => "plan",
        Mode::Destroy => "destroy plan",
    };
    let _ = writeln!(
        out,
        "{} for stack {} (account {}, region {})\n",
        style.bold(&format!("provision {verb}")),
        style.bold(&plan.stack),
        plan.account_id,
        plan.region
    );
    for s in &plan.steps {
        step(&mut out, s, plan, style);
    }
    let c = plan.counts();
    if !plan.has_changes() {
        let _ = writeln!(out, "{}", style.green("No changes."));
        if c.unowned == 0 {
            let _ = writeln!(out, "The account matches stack {}.", plan.stack);
        }
    } else {
        let _ = writeln!(
            out,
            "{} {} to add, {} to change, {} to destroy.",
            style.bold("Plan:"),
            c.add,
            c.change,
            c.destroy
        );
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
            if let Value::Object(m) = &s.desired.state {
                for (k, v) in m {
                    let empty = matches!(v, Value::Object(o) if o.is_empty()) || matches!(v, Value::Array(a) if a.is_empty());
                    if !v.is_null() && !empty {
                        value_line(out, "+", k, v, style);
                    }
                }
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
            changes(out, &s.changes, style);
        }
        Action::Delete => {
            let _ = writeln!(out, "  {} {head} will be destroyed", style.red("-"));
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
            let _ = writeln!(
                out,
                "      {} to adopt it, add the tag `{OWNER_TAG}={}` to it in AWS and plan again; otherwise rename it in the stack",
                style.bold("help:"),
                plan.stack
            );
        }
    }
    for n in &s.notes {
        let _ = writeln!(out, "  {} {}: {n}", style.dim("•"), s.address);
    }
    if s.action != Action::NoOp {
        out.push('\n');
    }
}

fn changes(out: &mut String, changes: &[FieldChange], style: Style) {
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

fn is_big(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => a.iter().any(|x| x.is_object() || x.is_array()) || a.len() > 3,
        _ => false,
    }
}

fn scalar(v: &Value) -> String {
    v.to_string()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
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

/// One line per step as it starts and as it ends, with the elapsed time.
pub struct Progress {
    pub style: Style,
}

impl Progress {
    fn verb(action: Action) -> (&'static str, &'static str) {
        match action {
            Action::Create => ("creating", "created"),
            Action::Update => ("updating", "updated"),
            Action::Replace => ("replacing", "replaced"),
            Action::Delete => ("destroying", "destroyed"),
            Action::NoOp | Action::Unowned => ("checking", "unchanged"),
        }
    }

    fn line(&self, text: String) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }

    pub fn started(&self, s: &Step) {
        self.line(format!("{}: {}...", s.address, Self::verb(s.action).0));
    }

    pub fn finished(&self, s: &Step, elapsed: Duration) {
        let text = format!("{}: {} after {:.1}s", s.address, Self::verb(s.action).1, elapsed.as_secs_f64());
        self.line(self.style.green(&text));
    }

    pub fn failed(&self, s: &Step, elapsed: Duration) {
        let text = format!("{}: {} failed after {:.1}s", s.address, Self::verb(s.action).0, elapsed.as_secs_f64());
        self.line(self.style.red(&text));
    }

    pub fn note(&self, text: &str) {
        self.line(text.to_string());
    }
}
