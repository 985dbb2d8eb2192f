//! Lint rules over a stack's IAM documents, managed-policy attachments and Kubernetes mappings.
//!
//! Rules only look at what the stack writes: the documents of AWS-managed policies are not linted
//! (attaching a broad one is what `full-access-policy` / `admin-access` report).

use super::catalog::{Catalog, Known};
use super::hops::{condition_values, name_of, plaintext_vars, s, sub_problem, Role, Stack};
use super::policy::{covers_prefix, glob, is_root_of, Effect, Policy};
use super::{Context, Finding, Options, Resource, Severity};
use serde_json::{json, Value};
use std::collections::HashMap;

/// A lint rule: stable id, default severity, what it flags and what to do instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub help: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        id: "admin-access",
        severity: Severity::Error,
        summary: "A role has the AWS-managed AdministratorAccess policy attached: every action on every resource",
        help: "Attach only what the role's hops need; `provision check` lists them.",
    },
    Rule {
        id: "full-access-policy",
        severity: Severity::Warning,
        summary: "A role has an AWS-managed *FullAccess or *AdminAccess policy attached: every action of a service, on every resource",
        help: "Replace it with an inline policy that grants the actions the pipeline uses on the stack's own resources (the help of each hop gives the statement).",
    },
    Rule {
        id: "action-wildcard",
        severity: Severity::Error,
        summary: "An Allow statement grants Action \"*\" (or uses NotAction): every action of every service",
        help: "List the actions the role needs.",
    },
    Rule {
        id: "service-wildcard",
        severity: Severity::Warning,
        summary: "An Allow statement grants \"service:*\": every action of a service, including its permission-management actions and any it adds later",
        help: "List the actions the role needs, or a narrow pattern such as eks:Describe*.",
    },
    Rule {
        id: "passrole-wildcard",
        severity: Severity::Error,
        summary: "iam:PassRole is allowed on every role: the holder can hand any role, an admin one included, to a service it controls",
        help: "Name the roles that may be passed (their ARNs) and restrict with the iam:PassedToService condition.",
    },
    Rule {
        id: "system-masters",
        severity: Severity::Warning,
        summary: "An aws-auth entry maps a role to the system:masters group: unrestricted cluster admin that RBAC cannot limit",
        help: "Map the role to a group bound to a namespaced Role, or use an EKS access entry with AmazonEKSEditPolicy scoped to a namespace (see examples/eks-devops-access-entries.yaml).",
    },
    Rule {
        id: "trust-account-root",
        severity: Severity::Warning,
        summary: "A role's trust policy admits a whole account (arn:aws:iam::ID:root or ID): any principal of that account that an identity policy allows can assume it",
        help: "Name the role(s) that assume it in the trust policy instead of the account.",
    },
    Rule {
        id: "trust-any-principal",
        severity: Severity::Error,
        summary: "A role's trust policy admits any principal (\"*\" or {\"AWS\": \"*\"}) without a condition",
        help: "Name the principals that assume the role.",
    },
    Rule {
        id: "oidc-sub-wildcard",
        severity: Severity::Error,
        summary: "A GitHub Actions OIDC trust does not pin the token's sub to one repository and a ref or environment",
        help: "Use StringEquals on token.actions.githubusercontent.com:sub with repo:OWNER/REPO:ref:refs/heads/BRANCH or repo:OWNER/REPO:environment:NAME, and on :aud with sts.amazonaws.com.",
    },
    Rule {
        id: "policy-version",
        severity: Severity::Warning,
        summary: "A policy document has no Version or a Version other than 2012-10-17 (policy variables are then not substituted)",
        help: "Add \"Version\": \"2012-10-17\".",
    },
    Rule {
        id: "unknown-action",
        severity: Severity::Warning,
        summary: "A statement names an action that does not exist (checked against the bundled IAM action catalogue): IAM accepts it and it grants nothing",
        help: "Fix the spelling; data/iam-actions.json lists the actions of the services it covers (refresh it with scripts/refresh-iam-catalog.py).",
    },
    Rule {
        id: "plaintext-secret",
        severity: Severity::Warning,
        summary: "A CodeBuild environment variable whose name looks like a secret is PLAINTEXT: its value is visible to anyone who can read the project",
        help: "Store the value in SSM Parameter Store or Secrets Manager and use {value: NAME, type: PARAMETER_STORE | SECRETS_MANAGER}.",
    },
    Rule {
        id: "suppression-reason",
        severity: Severity::Warning,
        summary: "A suppression has no reason, so it was not applied",
        help: "Write down why the finding is acceptable.",
    },
];

/// Every lint rule.
pub fn rules() -> &'static [Rule] {
    RULES
}

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).expect("known rule")
}

fn finding(id: &'static str, address: &str, message: String, help: Option<String>) -> Finding {
    let r = rule(id);
    Finding { rule: r.id, severity: r.severity, address: address.into(), message, help: help.or_else(|| Some(r.help.into())), suppressed: None }
}

fn where_(p: &Policy, index: usize, sid: &Option<String>) -> String {
    match sid {
        Some(s) => format!("statement {} ({s:?}) of the {}", index + 1, p.name),
        None => format!("statement {} of the {}", index + 1, p.name),
    }
}

/// Lint the resources; suppressions from `opts` are applied (suppressed findings are kept, marked).
pub fn lint(resources: &[Resource], ctx: &Context, opts: &Options) -> Vec<Finding> {
    let st = Stack::new(resources, ctx, opts);
    let mut out = vec![];
    let assumers = assumers(&st);
    for role in &st.roles {
        attachments(role.r, &mut out);
        trust_rules(&assumers, role.r, &role.arn, &role.trust, &mut out);
        document_rules(role.r, &role.trust, ctx, true, &mut out);
        for p in role.identity.iter().filter(|p| p.name.starts_with("inline policy")) {
            document_rules(role.r, p, ctx, false, &mut out);
        }
    }
    for p in st.of_kind("iam_policy") {
        let doc = Policy::parse(format!("customer-managed policy {} ({})", p.address, name_of(p)), p.state.get("document").unwrap_or(&Value::Null));
        document_rules(p, &doc, ctx, false, &mut out);
    }
    for m in st.of_kind("eks_aws_auth_role") {
        let groups: Vec<&str> = m.state.get("groups").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if groups.contains(&"system:masters") {
            let role = s(&m.state, "role_arn").unwrap_or("the role");
            out.push(finding(
                "system-masters",
                &m.address,
                format!("{role} is mapped to system:masters in cluster {}: full, unrestricted admin of the cluster", s(&m.state, "cluster").unwrap_or("?")),
                None,
            ));
        }
    }
    for c in st.of_kind("codebuild_project") {
        for (k, _) in plaintext_vars(c) {
            let up = k.to_ascii_uppercase();
            if ["SECRET", "PASSWORD", "PASSWD", "TOKEN", "PRIVATE_KEY", "ACCESS_KEY", "API_KEY"].iter().any(|w| up.contains(w)) {
                out.push(finding("plaintext-secret", &c.address, format!("environment variable {k} of {} is PLAINTEXT", name_of(c)), None));
            }
        }
    }
    apply_suppressions(&mut out, opts);
    out
}

fn apply_suppressions(out: &mut Vec<Finding>, opts: &Options) {
    for sup in &opts.suppressions {
        if sup.reason.trim().is_empty() {
            out.push(finding(
                "suppression-reason",
                &sup.address,
                format!("the suppression of {} on {} has no reason and was not applied", sup.rule, sup.address),
                None,
            ));
            continue;
        }
        for f in out.iter_mut().filter(|f| f.address == sup.address && f.rule == sup.rule) {
            f.suppressed = Some(sup.reason.clone());
        }
    }
}

fn attachments(r: &Resource, out: &mut Vec<Finding>) {
    for arn in r.state.get("managed_policies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        if parts.len() != 6 || parts[4] != "aws" {
            continue;
        }
        let name = arn.rsplit('/').next().unwrap_or(arn);
        if name == "AdministratorAccess" {
            out.push(finding("admin-access", &r.address, format!("{} has AdministratorAccess attached", name_of(r)), None));
        } else if name.ends_with("FullAccess") || name.ends_with("AdminAccess") {
            out.push(finding("full-access-policy", &r.address, format!("{} has the AWS-managed {name} attached", name_of(r)), None));
        }
    }
}

/// Who assumes whom: for each ARN, the roles of the stack that assume it — service roles of build
/// projects whose environment holds the ARN, and roles whose own policies name it as the resource
/// of sts:AssumeRole — as (address, name, ARN). Built once: looking it up per role would scan every
/// project and statement for each of them.
fn assumers<'s, 'a>(st: &'s Stack<'a>) -> HashMap<String, Vec<&'s Role<'a>>> {
    let mut out: HashMap<String, Vec<&Role>> = HashMap::new();
    let mut add = |target: &str, r: &'s Role<'a>| {
        let list = out.entry(target.to_string()).or_default();
        if r.arn != target && !list.iter().any(|x| x.arn == r.arn) {
            list.push(r);
        }
    };
    for c in st.of_kind("codebuild_project") {
        if let Some(r) = s(&c.state, "service_role").and_then(|a| st.role_by_arn(a)) {
            for (_, v) in plaintext_vars(c) {
                add(&v, r);
            }
        }
    }
    for r in &st.roles {
        for stmt in r.identity.iter().flat_map(|p| &p.statements) {
            if stmt.effect == Effect::Allow && stmt.covers_action("sts:AssumeRole") {
                for x in stmt.resources() {
                    add(x, r);
                }
            }
        }
    }
    out
}

fn trust_rules(assumers: &HashMap<String, Vec<&Role>>, r: &Resource, me: &str, trust: &Policy, out: &mut Vec<Finding>) {
    for stmt in &trust.statements {
        if stmt.effect != Effect::Allow {
            continue;
        }
        let at = where_(trust, stmt.index, &stmt.sid);
        let aws = stmt.aws_principals();
        if aws.iter().any(|p| p == "*") && stmt.condition.is_none() {
            out.push(finding("trust-any-principal", &r.address, format!("{at} admits any principal"), None));
        }
        let accounts: Vec<&String> =
            aws.iter().filter(|p| (p.len() == 12 && p.chars().all(|c| c.is_ascii_digit())) || p.split(':').nth(4).is_some_and(|a| is_root_of(p, a))).collect();
        if !accounts.is_empty() {
            let who: Vec<(String, String, String)> =
                assumers.get(me).into_iter().flatten().map(|r| (r.r.address.clone(), r.name.clone(), r.arn.clone())).collect();
            let (msg, help) = if who.is_empty() {
                (format!("{at} admits the whole account ({})", accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")), None)
            } else {
                let names: Vec<String> = who.iter().map(|(a, n, _)| format!("{a} ({n})")).collect();
                let arns: Vec<String> = who.iter().map(|(_, _, arn)| arn.clone()).collect();
                let principal = if arns.len() == 1 { json!(arns[0]) } else { json!(arns) };
                let statement = json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"});
                (
                    format!(
                        "{at} admits the whole account ({}), but in this stack only {} assumes it",
                        accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "),
                        names.join(" and ")
                    ),
                    Some(format!("name it instead: replace the statement with {statement}")),
                )
            };
            out.push(finding("trust-account-root", &r.address, msg, help));
        }
        let github = stmt.federated_principals().iter().any(|f| f.ends_with("oidc-provider/token.actions.githubusercontent.com"));
        if github && stmt.covers_action("sts:AssumeRoleWithWebIdentity") {
            let subs = condition_values(stmt.condition.as_ref(), "token.actions.githubusercontent.com:sub", |o| {
                o.eq_ignore_ascii_case("StringEquals") || o.eq_ignore_ascii_case("StringLike")
            });
            if subs.is_empty() {
                out.push(finding(
                    "oidc-sub-wildcard",
                    &r.address,
                    format!("{at} has no condition on token.actions.githubusercontent.com:sub: any GitHub repository can assume the role"),
                    None,
                ));
            }
            for p in subs.iter().filter_map(|s| sub_problem(s)) {
                out.push(finding("oidc-sub-wildcard", &r.address, format!("{at}: {p}"), None));
            }
        }
    }
}

fn document_rules(r: &Resource, p: &Policy, ctx: &Context, trust: bool, out: &mut Vec<Finding>) {
    if p.version.as_deref() != Some("2012-10-17") {
        let v = p.version.as_deref().map_or("no Version".to_string(), |v| format!("Version {v:?}"));
        out.push(finding("policy-version", &r.address, format!("the {} has {v}", p.name), None));
    }
    let catalog = Catalog::bundled();
    let roles_prefix = format!("arn:{}:iam::{}:role/", ctx.partition, ctx.account_id);
    for stmt in &p.statements {
        let at = where_(p, stmt.index, &stmt.sid);
        let patterns: Vec<String> = if stmt.not_action() { vec![] } else { stmt.actions().to_vec() };
        for a in &patterns {
            if catalog.knows(a) == Known::No {
                out.push(finding(
                    "unknown-action",
                    &r.address,
                    format!("{at} names {a}, which is not an action of {}", a.split(':').next().unwrap_or(a)),
                    None,
                ));
            }
        }
        if stmt.effect != Effect::Allow || trust {
            continue;
        }
        if stmt.not_action() || patterns.iter().any(|a| a == "*" || a == "*:*") {
            let what = if stmt.not_action() { "uses NotAction in an Allow" } else { "allows Action \"*\"" };
            out.push(finding("action-wildcard", &r.address, format!("{at} {what}"), None));
            continue;
        }
        for a in &patterns {
            if let Some((svc, "*")) = a.split_once(':') {
                out.push(finding("service-wildcard", &r.address, format!("{at} allows {svc}:*"), None));
            }
        }
        let passes = patterns.iter().any(|a| glob(a, "iam:PassRole", true));
        let restricted = !condition_values(stmt.condition.as_ref(), "iam:PassedToService", |_| true).is_empty();
        let all_roles = stmt.resources().iter().any(|res| res == "*" || covers_prefix(res, &roles_prefix));
        if passes && all_roles && !restricted {
            out.push(finding("passrole-wildcard", &r.address, format!("{at} allows iam:PassRole on every role"), None));
        }
    }
}
