//! The three views of a [`Report`]: human lines, JSON, SARIF 2.1.0.

use super::lint::rules;
use super::{End, Finding, Hop, HopKind, Report, Severity, Verdict};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// How a human line should look; the caller picks colours (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// A section or group heading.
    Heading,
    /// A hop that passes.
    Pass,
    /// A hop that fails.
    Fail,
    /// A hop that passes only under a condition.
    Conditional,
    /// Lint findings by severity.
    Error,
    Warning,
    Info,
    /// A suppressed finding.
    Suppressed,
    /// Detail under a hop or finding (ends, grants, help).
    Detail,
    /// The closing summary.
    Summary,
}

/// One line of the human view: plain text (no colour codes) and its tone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub tone: Tone,
    pub text: String,
}

/// A place in a stack file, for SARIF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    /// Path relative to the repository root, with `/`.
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based.
    pub column: u32,
}

fn line(tone: Tone, text: impl Into<String>) -> Line {
    Line { tone, text: text.into() }
}

fn end_json(e: &End) -> Value {
    json!({"address": e.address, "name": e.name})
}

fn hop_json(h: &Hop) -> Value {
    json!({
        "id": h.kind.id(),
        "group": h.group,
        "title": h.title,
        "verdict": h.verdict.as_str(),
        "condition": match &h.verdict { Verdict::Conditional(c) => Some(c), _ => None },
        "from": end_json(&h.from),
        "to": end_json(&h.to),
        "actions": h.actions,
        "resource": h.resource,
        "detail": h.detail,
        "fix": h.fix.as_ref().map(|f| json!({"policy": f.policy, "address": f.address, "statement": f.statement, "help": f.help})),
    })
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "rule": f.rule,
        "severity": f.severity.as_str(),
        "address": f.address,
        "message": f.message,
        "help": f.help,
        "suppressed": f.suppressed,
    })
}

impl Report {
    fn counts(&self) -> (usize, usize, usize, usize, usize, usize, usize) {
        let pass = self.hops.iter().filter(|h| h.verdict == Verdict::Pass).count();
        let fail = self.hops.iter().filter(|h| h.verdict == Verdict::Fail).count();
        let cond = self.hops.len() - pass - fail;
        let live: Vec<&Finding> = self.findings.iter().filter(|f| f.suppressed.is_none()).collect();
        let by = |s: Severity| live.iter().filter(|f| f.severity == s).count();
        let suppressed = self.findings.len() - live.len();
        (pass, fail, cond, by(Severity::Error), by(Severity::Warning), by(Severity::Info), suppressed)
    }

    /// The human view: hops grouped by the pipeline / project / role they belong to, one line per
    /// hop with its verdict, failures followed by what to change; then lint findings; then a summary.
    pub fn human(&self) -> Vec<Line> {
        let mut out = vec![];
        let mut group: Option<&str> = None;
        for h in &self.hops {
            if group != Some(h.group.as_str()) {
                if group.is_some() {
                    out.push(line(Tone::Detail, ""));
                }
                out.push(line(Tone::Heading, h.group.clone()));
                group = Some(&h.group);
            }
            let (tone, tag) = match h.verdict {
                Verdict::Pass => (Tone::Pass, "ok  "),
                Verdict::Fail => (Tone::Fail, "FAIL"),
                Verdict::Conditional(_) => (Tone::Conditional, "IF  "),
            };
            out.push(line(tone, format!("  {tag}  {}", h.title)));
            if h.verdict == Verdict::Pass {
                continue;
            }
            let pad = "        ";
            out.push(line(Tone::Detail, format!("{pad}{} -> {}", h.from.describe(), h.to.describe())));
            if let Verdict::Conditional(c) = &h.verdict {
                out.push(line(Tone::Detail, format!("{pad}condition: {c}")));
            }
            for d in &h.detail {
                out.push(line(Tone::Detail, format!("{pad}{d}")));
            }
            if let Some(f) = &h.fix {
                out.push(line(Tone::Detail, format!("{pad}change: {}", f.policy)));
                match &f.statement {
                    Some(s) => {
                        let compact = s.to_string();
                        let (lead, tail) = match f.help.find(&compact) {
                            Some(i) => (f.help[..i].trim_end_matches([' ', ':']), &f.help[i + compact.len()..]),
                            None => (f.help.as_str(), ""),
                        };
                        out.push(line(Tone::Detail, format!("{pad}help: {lead}:")));
                        let pretty = serde_json::to_string_pretty(s).unwrap_or_default();
                        out.extend(pretty.lines().map(|l| line(Tone::Detail, format!("{pad}  {l}"))));
                        let tail = tail.trim_start_matches([',', ' ']);
                        if !tail.is_empty() {
                            out.push(line(Tone::Detail, format!("{pad}{tail}")));
                        }
                    }
                    None => {
                        for (i, l) in f.help.lines().enumerate() {
                            let lead = if i == 0 { "help: " } else { "  " };
                            out.push(line(Tone::Detail, format!("{pad}{lead}{l}")));
                        }
                    }
                }
            }
        }
        if !self.findings.is_empty() {
            if !self.hops.is_empty() {
                out.push(line(Tone::Detail, ""));
            }
            out.push(line(Tone::Heading, "lint"));
            let mut sorted: Vec<&Finding> = self.findings.iter().collect();
            sorted.sort_by_key(|f| (f.suppressed.is_some(), f.severity));
            for f in sorted {
                let tone = match (&f.suppressed, f.severity) {
                    (Some(_), _) => Tone::Suppressed,
                    (None, Severity::Error) => Tone::Error,
                    (None, Severity::Warning) => Tone::Warning,
                    (None, Severity::Info) => Tone::Info,
                };
                out.push(line(tone, format!("  {}[{}] {}: {}", f.severity.as_str(), f.rule, f.address, f.message)));
                match &f.suppressed {
                    Some(r) => out.push(line(Tone::Detail, format!("        suppressed: {r}"))),
                    None => {
                        if let Some(h) = &f.help {
                            out.push(line(Tone::Detail, format!("        help: {h}")));
                        }
                    }
                }
            }
        }
        let (pass, fail, cond, e, w, i, sup) = self.counts();
        out.push(line(Tone::Detail, ""));
        out.push(line(
            Tone::Summary,
            format!(
                "{} hops: {pass} ok, {fail} failed, {cond} conditional; lint: {e} errors, {w} warnings, {i} notes{}",
                self.hops.len(),
                if sup > 0 { format!(" ({sup} suppressed)") } else { String::new() }
            ),
        ));
        out
    }

    /// The JSON view (`--json`). Shape, stable (fields are only ever added):
    ///
    /// ```text
    /// { "version": 1,
    ///   "summary": { "hops", "pass", "fail", "conditional", "errors", "warnings", "notes", "suppressed": n, "failed": bool },
    ///   "hops": [ { "id": "hop/ecr-push", "group", "title", "verdict": "pass"|"fail"|"conditional",
    ///               "condition": string|null, "from": {"address": string|null, "name"}, "to": {..},
    ///               "actions": [string], "resource": string, "detail": [string],
    ///               "fix": null | {"policy", "address": string|null, "statement": object|array|null, "help"} } ],
    ///   "findings": [ { "rule", "severity": "error"|"warning"|"info", "address", "message",
    ///                   "help": string|null, "suppressed": string|null } ] }
    /// ```
    pub fn to_json(&self) -> Value {
        let (pass, fail, cond, e, w, i, sup) = self.counts();
        json!({
            "version": 1,
            "summary": {
                "hops": self.hops.len(), "pass": pass, "fail": fail, "conditional": cond,
                "errors": e, "warnings": w, "notes": i, "suppressed": sup, "failed": self.failed(),
            },
            "hops": self.hops.iter().map(hop_json).collect::<Vec<_>>(),
            "findings": self.findings.iter().map(finding_json).collect::<Vec<_>>(),
        })
    }

    /// SARIF 2.1.0 for GitHub code scanning. Results are the failing and conditional hops (levels
    /// `error` and `warning`) and the lint findings (suppressed ones carry a `suppressions` entry).
    /// `locations` maps a resource address to where it is written; the entry under the key `""`
    /// (the stack file itself), if any, is used for addresses without their own location. Every
    /// result also carries the address as a logical location.
    pub fn to_sarif(&self, locations: &BTreeMap<String, SourceLocation>) -> Value {
        let mut rule_ids: Vec<&'static str> = vec![];
        let mut rules_json = vec![];
        for k in HopKind::ALL {
            rule_ids.push(k.id());
            rules_json.push(json!({
                "id": k.id(),
                "name": k.id().trim_start_matches("hop/"),
                "shortDescription": {"text": k.describe()},
                "fullDescription": {"text": format!("Permission chain: {}", k.describe())},
                "help": {"text": "The result's message names both ends, the action and resource, the policy to change and the exact statement to add."},
                "defaultConfiguration": {"level": "error"},
            }));
        }
        for r in rules() {
            rule_ids.push(r.id);
            rules_json.push(json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": r.summary},
                "help": {"text": r.help},
                "defaultConfiguration": {"level": sarif_level(r.severity)},
            }));
        }
        let locate = |address: &str| -> Value {
            let mut loc = json!({"logicalLocations": [{"fullyQualifiedName": address, "kind": "resource"}]});
            if let Some(l) = locations.get(address).or_else(|| locations.get("")) {
                loc["physicalLocation"] = json!({
                    "artifactLocation": {"uri": l.file},
                    "region": {"startLine": l.line.max(1), "startColumn": l.column.max(1)},
                });
            }
            loc
        };
        let index = |id: &str| rule_ids.iter().position(|r| *r == id).unwrap_or(0);
        let mut results = vec![];
        for h in &self.hops {
            let level = match h.verdict {
                Verdict::Pass => continue,
                Verdict::Fail => "error",
                Verdict::Conditional(_) => "warning",
            };
            let mut text = format!("{}: {} -> {}", h.title, h.from.describe(), h.to.describe());
            if let Verdict::Conditional(c) = &h.verdict {
                text.push_str(&format!("; {c}"));
            }
            if let Some(f) = &h.fix {
                text.push_str(&format!(". Change {}. help: {}", f.policy, f.help));
            }
            let address = h
                .fix
                .as_ref()
                .and_then(|f| f.address.clone())
                .or_else(|| h.from.address.clone())
                .or_else(|| h.to.address.clone())
                .unwrap_or_else(|| h.group.split(' ').next().unwrap_or_default().to_string());
            results.push(json!({
                "ruleId": h.kind.id(),
                "ruleIndex": index(h.kind.id()),
                "level": level,
                "message": {"text": text},
                "locations": [locate(&address)],
            }));
        }
        for f in &self.findings {
            let mut text = f.message.clone();
            if let Some(h) = &f.help {
                text.push_str(&format!(". help: {h}"));
            }
            let mut r = json!({
                "ruleId": f.rule,
                "ruleIndex": index(f.rule),
                "level": sarif_level(f.severity),
                "message": {"text": text},
                "locations": [locate(&f.address)],
            });
            if let Some(reason) = &f.suppressed {
                r["suppressions"] = json!([{"kind": "external", "justification": reason}]);
            }
            results.push(r);
        }
        json!({
            "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {
                    "name": "provision check",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules_json,
                }},
                "results": results,
            }],
        })
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}
