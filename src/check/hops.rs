//! The permission chain ("hops") derived from a stack's resources.

use super::policy::{evaluate, Decision, Grant, Policy, Principal, Request, Target, Via};
use super::{AuthMode, Context, End, Fix, Hop, HopKind, Options, Resource, Verdict};
use serde_json::{json, Value};

/// The text a not-yet-known attribute resolves to.
pub(crate) const UNKNOWN: &str = "(known after apply)";

const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

pub(crate) fn s<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

fn local(address: &str) -> &str {
    address.split_once('.').map_or(address, |(_, n)| n)
}

/// The account of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`).
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// A role ARN without its path: what the aws-auth ConfigMap matches.
pub(crate) fn strip_role_path(arn: &str) -> String {
    match arn.split_once(":role/") {
        Some((head, rest)) => format!("{head}:role/{}", rest.rsplit('/').next().unwrap_or(rest)),
        None => arn.to_string(),
    }
}

/// A role of the stack with its policies parsed.
pub(crate) struct Role<'a> {
    pub r: &'a Resource,
    pub name: String,
    pub arn: String,
    pub trust: Policy,
    pub identity: Vec<Policy>,
    /// Managed policy ARNs attached whose document is unknown.
    pub unknown: Vec<String>,
    pub inline_names: Vec<String>,
}

impl Role<'_> {
    pub fn label(&self) -> String {
        format!("{} role", local(&self.r.address))
    }
    pub fn end(&self) -> End {
        End { address: Some(self.r.address.clone()), name: self.name.clone() }
    }
    pub fn describe(&self) -> String {
        self.end().describe()
    }
}

/// The resources indexed for the checks.
pub(crate) struct Stack<'a> {
    pub ctx: &'a Context,
    pub opts: &'a Options,
    pub res: &'a [Resource],
    pub roles: Vec<Role<'a>>,
}

/// An attribute known at plan time (not `(known after apply)`).
pub(crate) fn known(r: &Resource, key: &str) -> Option<String> {
    r.attrs.get(key).filter(|v| v.as_str() != UNKNOWN).cloned()
}

pub(crate) fn name_of(r: &Resource) -> String {
    r.attrs.get("name").cloned().or_else(|| s(&r.state, "name").map(str::to_string)).unwrap_or_else(|| local(&r.address).to_string())
}

impl<'a> Stack<'a> {
    pub fn new(res: &'a [Resource], ctx: &'a Context, opts: &'a Options) -> Stack<'a> {
        let mut st = Stack { ctx, opts, res, roles: vec![] };
        let roles = res.iter().filter(|r| r.kind == "iam_role").map(|r| st.role(r)).collect();
        st.roles = roles;
        st
    }

    fn role(&self, r: &'a Resource) -> Role<'a> {
        let name = name_of(r);
        let arn = known(r, "arn").unwrap_or_else(|| {
            let path = s(&r.state, "path").unwrap_or("/");
            format!("arn:{}:iam::{}:role{path}{name}", self.ctx.partition, self.ctx.account_id)
        });
        let describe = format!("{} ({name})", r.address);
        let trust = Policy::parse(format!("trust policy of {describe}"), r.state.get("trust_policy").unwrap_or(&Value::Null));
        let mut identity = vec![];
        let mut inline_names = vec![];
        if let Some(m) = r.state.get("inline_policies").and_then(Value::as_object) {
            for (pname, doc) in m {
                inline_names.push(pname.clone());
                identity.push(Policy::parse(format!("inline policy {pname} of {describe}"), doc));
            }
        }
        let mut unknown = vec![];
        for arn in r.state.get("managed_policies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if let Some(p) = self.customer_policy(arn) {
                identity
                    .push(Policy::parse(format!("customer-managed policy {} ({})", p.address, name_of(p)), p.state.get("document").unwrap_or(&Value::Null)));
            } else if let Some(doc) = self.opts.managed.get(arn) {
                let short = arn.rsplit('/').next().unwrap_or(arn);
                identity.push(Policy::parse(format!("AWS-managed policy {short}"), doc));
            } else {
                unknown.push(arn.to_string());
            }
        }
        Role { r, name, arn, trust, identity, unknown, inline_names }
    }

    pub fn customer_policy(&self, arn: &str) -> Option<&'a Resource> {
        self.res.iter().find(|p| p.kind == "iam_policy" && p.attrs.get("arn").map(String::as_str) == Some(arn))
    }

    pub fn of_kind(&self, kind: &'a str) -> impl Iterator<Item = &'a Resource> + 'a {
        self.res.iter().filter(move |r| r.kind == kind)
    }

    pub fn role_by_arn(&self, arn: &str) -> Option<&Role<'a>> {
        self.roles.iter().find(|r| r.arn == arn)
    }

    fn arn(&self, service: &str, region: bool, resource: &str) -> String {
        let region = if region { self.ctx.region.as_str() } else { "" };
        format!("arn:{}:{service}:{region}:{}:{resource}", self.ctx.partition, self.ctx.account_id)
    }

    /// A role's identity policies on one need (alternative actions × alternative targets).
    fn role_decision(&self, role: &Role, actions: &[String], targets: &[Target]) -> Decision {
        let mut best = Decision::Implicit;
        for a in actions {
            for t in targets {
                let d = evaluate(&role.identity, &Request { principal: None, action: a, resource: Some(t) });
                best = best.best(d);
            }
        }
        if best == Decision::Implicit && !role.unknown.is_empty() {
            return Decision::Conditional {
                condition: format!("if {} allows it (the document is not known: pass the live policy)", role.unknown.join(" or ")),
                grants: vec![],
            };
        }
        best
    }
}

/// One permission a hop needs: alternative action names and alternative spellings of the target.
struct Need {
    actions: Vec<String>,
    targets: Vec<Target>,
}

fn need(action: &str, target: Target) -> Need {
    Need { actions: vec![action.to_string()], targets: vec![target] }
}

fn grant_lines(g: &[Grant]) -> String {
    let v: Vec<String> = g.iter().map(Grant::describe).collect();
    let notes: Vec<&str> = g.iter().filter_map(|g| g.note.as_deref()).collect();
    let mut out = v.join("; ");
    if let Some(n) = notes.first() {
        out.push_str(&format!(" ({n})"));
    }
    out
}

fn one_or_list(v: &[String]) -> Value {
    if v.len() == 1 {
        json!(v[0])
    } else {
        json!(v)
    }
}

fn title(subject: &str, verdict: &Verdict, verb: &str) -> String {
    match verdict {
        Verdict::Pass => format!("{subject} can {verb}"),
        Verdict::Fail => format!("{subject} cannot {verb}"),
        Verdict::Conditional(_) => format!("{subject} can {verb}, conditionally"),
    }
}

/// The text a help statement uses for a target: its ARN, or the stack reference when not known.
fn statement_resource(t: &Target, reference: Option<&str>) -> String {
    match (t, reference) {
        (Target::Unknown { placeholder: Some(_), .. }, Some(r)) => r.to_string(),
        _ => t.text(),
    }
}

struct IdentityHop<'s> {
    kind: HopKind,
    group: String,
    verb: String,
    to: End,
    needs: Vec<Need>,
    sid: &'s str,
    /// `${kind.name.arn}` of the target when its ARN may be unknown.
    reference: Option<String>,
}

impl Stack<'_> {
    /// A hop where a role's identity policies must allow `needs`.
    fn identity_hop(&self, role_arn: &str, h: IdentityHop) -> Hop {
        let actions: Vec<String> = h.needs.iter().map(|n| n.actions[0].clone()).collect();
        let mut resources: Vec<String> = vec![];
        for n in &h.needs {
            let t = n.targets[0].text();
            if !resources.contains(&t) {
                resources.push(t);
            }
        }
        let resource = resources.join(", ");
        let Some(role) = self.role_by_arn(role_arn) else {
            let name = role_arn.rsplit('/').next().unwrap_or(role_arn).to_string();
            let verdict = Verdict::Conditional(format!("if role {role_arn} (not in this stack) allows {}", actions.join(", ")));
            return Hop {
                kind: h.kind,
                group: h.group,
                title: title(&name, &verdict, &h.verb),
                verdict,
                from: End { address: None, name: role_arn.to_string() },
                to: h.to,
                actions,
                resource,
                detail: vec![format!("{role_arn} is not a role of this stack: its policies are not known here")],
                fix: None,
            };
        };
        let mut detail = vec![];
        let mut missing: Vec<(String, String)> = vec![];
        let mut denied: Vec<Grant> = vec![];
        let mut conditions: Vec<String> = vec![];
        let mut implicit: Vec<(String, Vec<String>)> = vec![];
        for n in &h.needs {
            let d = self.role_decision(role, &n.actions, &n.targets);
            let a = &n.actions[0];
            let t = n.targets[0].text();
            match d {
                Decision::Allow(g) => detail.push(format!("{a} on {t}: allowed by {}", grant_lines(&g))),
                Decision::Conditional { condition, grants } => {
                    if grants.is_empty() {
                        detail.push(format!("{a} on {t}: {condition}"));
                    } else {
                        detail.push(format!("{a} on {t}: allowed {condition}, by {}", grant_lines(&grants)));
                    }
                    if !conditions.contains(&condition) {
                        conditions.push(condition);
                    }
                }
                Decision::Deny(g) => {
                    detail.push(format!("{a} on {t}: denied by {}", grant_lines(&g)));
                    denied.extend(g);
                }
                Decision::Implicit => {
                    missing.push((a.clone(), statement_resource(&n.targets[0], h.reference.as_deref())));
                    match implicit.iter_mut().find(|(target, _)| target == &t) {
                        Some((_, acts)) => acts.push(a.clone()),
                        None => implicit.push((t, vec![a.clone()])),
                    }
                }
            }
        }
        for (t, acts) in implicit {
            detail.push(format!("{} on {t}: no statement of {} allows it", acts.join(", "), role.describe()));
        }
        let verdict = if !missing.is_empty() || !denied.is_empty() {
            Verdict::Fail
        } else if !conditions.is_empty() {
            Verdict::Conditional(conditions.join("; "))
        } else {
            Verdict::Pass
        };
        let fix = if !denied.is_empty() {
            let policies: Vec<String> = denied.iter().map(Grant::describe).collect();
            Some(Fix {
                policy: denied[0].policy.clone(),
                address: Some(role.r.address.clone()),
                statement: None,
                help: format!("remove or narrow the Deny: {}", policies.join("; ")),
            })
        } else if !missing.is_empty() {
            Some(self.add_statement_fix(role, h.sid, &missing))
        } else {
            None
        };
        Hop {
            kind: h.kind,
            group: h.group,
            title: title(&role.label(), &verdict, &h.verb),
            verdict,
            from: role.end(),
            to: h.to,
            actions,
            resource,
            detail,
            fix,
        }
    }

    /// Where to add an Allow for `missing` (action, resource) pairs, and the statement.
    fn add_statement_fix(&self, role: &Role, sid: &str, missing: &[(String, String)]) -> Fix {
        let mut actions: Vec<String> = vec![];
        let mut resources: Vec<String> = vec![];
        for (a, r) in missing {
            if !actions.contains(a) {
                actions.push(a.clone());
            }
            if !resources.contains(r) {
                resources.push(r.clone());
            }
        }
        let statement = json!({"Sid": sid, "Effect": "Allow", "Action": one_or_list(&actions), "Resource": one_or_list(&resources)});
        let policy = match role.inline_names.first() {
            Some(n) => format!("inline policy {n} of {}", role.describe()),
            None => format!("a new inline policy of {}", role.describe()),
        };
        let mut help = format!("add this statement to {policy}: {statement}");
        // A customer-managed policy of the stack that grants it and is not attached.
        let attached: Vec<&str> = role.r.state.get("managed_policies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for p in self.of_kind("iam_policy") {
            let arn = p.attrs.get("arn").map(String::as_str).unwrap_or_default();
            if attached.contains(&arn) {
                continue;
            }
            let pol = Policy::parse("", p.state.get("document").unwrap_or(&Value::Null));
            let grants_all =
                missing.iter().all(|(a, r)| evaluate([&pol], &Request { principal: None, action: a, resource: Some(&Target::Arn(r.clone())) }).is_allow());
            if grants_all {
                help.push_str(&format!(", or attach {} ({}), which grants it, to {}", p.address, name_of(p), role.r.address));
            }
        }
        Fix { policy, address: Some(role.r.address.clone()), statement: Some(statement), help }
    }

    /// A hop where an AWS service must be able to assume a role.
    fn service_assume_hop(&self, group: &str, service: &str, service_label: &str, role_arn: &str) -> Hop {
        let Some(role) = self.role_by_arn(role_arn) else {
            let verdict = Verdict::Conditional(format!("if the trust policy of {role_arn} (not in this stack) names {service}"));
            return Hop {
                kind: HopKind::ServiceAssume,
                group: group.into(),
                title: title(service_label, &verdict, &format!("assume {role_arn}")),
                verdict,
                from: End { address: None, name: service.into() },
                to: End { address: None, name: role_arn.into() },
                actions: vec!["sts:AssumeRole".into()],
                resource: role_arn.into(),
                detail: vec![format!("{role_arn} is not a role of this stack")],
                fix: None,
            };
        };
        let who = Principal::Service(service.into());
        let d = evaluate([&role.trust], &Request { principal: Some(&who), action: "sts:AssumeRole", resource: None });
        let statement = json!({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"});
        let (verdict, detail, fix) = match d {
            Decision::Allow(g) => (Verdict::Pass, vec![format!("admitted by {}", grant_lines(&g))], None),
            Decision::Conditional { condition, grants } => {
                (Verdict::Conditional(condition.clone()), vec![format!("admitted {condition}, by {}", grant_lines(&grants))], None)
            }
            Decision::Deny(g) => (
                Verdict::Fail,
                vec![format!("denied by {}", grant_lines(&g))],
                Some(Fix {
                    policy: role.trust.name.clone(),
                    address: Some(role.r.address.clone()),
                    statement: None,
                    help: format!("remove or narrow the Deny in {}", grant_lines(&g)),
                }),
            ),
            Decision::Implicit => (
                Verdict::Fail,
                vec![format!("the trust policy of {} does not name {service}", role.describe())],
                Some(Fix {
                    policy: role.trust.name.clone(),
                    address: Some(role.r.address.clone()),
                    statement: Some(statement.clone()),
                    help: format!("add this statement to the {}: {statement}", role.trust.name),
                }),
            ),
        };
        Hop {
            kind: HopKind::ServiceAssume,
            group: group.into(),
            title: title(service_label, &verdict, &format!("assume {} ({})", role.label(), role.name)),
            verdict,
            from: End { address: None, name: service.into() },
            to: role.end(),
            actions: vec!["sts:AssumeRole".into()],
            resource: role.arn.clone(),
            detail,
            fix,
        }
    }
}

fn group_of(r: &Resource) -> String {
    format!("{} ({})", r.address, name_of(r))
}

/// A target from an attribute that may be `(known after apply)`.
fn target_or_unknown(value: &str, prefix: String) -> Target {
    if value == UNKNOWN || !value.starts_with("arn:") {
        Target::Unknown { prefix, placeholder: Some(UNKNOWN.into()) }
    } else {
        Target::Arn(value.to_string())
    }
}

/// Each action of a pipeline, with its stage.
fn pipeline_actions(p: &Resource) -> Vec<&Value> {
    p.state
        .get("stages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|st| st.get("actions").and_then(Value::as_array).into_iter().flatten())
        .collect()
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// CodeBuild environment variables as (name, value) for PLAINTEXT ones (a PARAMETER_STORE or
/// SECRETS_MANAGER value is a reference, not the value).
pub(crate) fn plaintext_vars(project: &Resource) -> Vec<(String, String)> {
    let vars = project.state.get("environment").and_then(|e| e.get("variables")).and_then(Value::as_object);
    vars.into_iter()
        .flatten()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Object(_) => {
                let ty = s(v, "type").unwrap_or("PLAINTEXT");
                (ty == "PLAINTEXT").then(|| Some((k.clone(), s(v, "value")?.to_string()))).flatten()
            }
            _ => None,
        })
        .collect()
}

/// Derive every hop of the stack's pipelines, build projects and GitHub OIDC roles.
pub fn hops(resources: &[Resource], ctx: &Context, opts: &Options) -> Vec<Hop> {
    let st = Stack::new(resources, ctx, opts);
    let mut out = vec![];
    for p in st.of_kind("codepipeline") {
        pipeline_hops(&st, p, &mut out);
    }
    for c in st.of_kind("codebuild_project") {
        project_hops(&st, c, &mut out);
    }
    for role in &st.roles {
        github_oidc_hop(&st, role, &mut out);
    }
    out
}

fn bucket_object_target(st: &Stack, bucket: &str) -> Target {
    Target::Unknown { prefix: format!("arn:{}:s3:::{bucket}/", st.ctx.partition), placeholder: None }
}

fn pipeline_hops(st: &Stack, p: &Resource, out: &mut Vec<Hop>) {
    let group = group_of(p);
    let Some(role_arn) = s(&p.state, "role_arn") else {
        return;
    };
    out.push(st.service_assume_hop(&group, "codepipeline.amazonaws.com", "CodePipeline", role_arn));

    let actions = pipeline_actions(p);
    // Source: the connection.
    for a in &actions {
        let cfg = a.get("configuration").cloned().unwrap_or(Value::Null);
        let Some(conn) = s(&cfg, "ConnectionArn") else {
            continue;
        };
        let service = if conn.starts_with(&format!("arn:{}:codeconnections:", st.ctx.partition)) { "codeconnections" } else { "codestar-connections" };
        let target = target_or_unknown(conn, st.arn(service, true, "connection/"));
        let conn_res = st.of_kind("codestar_connection").find(|c| c.attrs.get("arn").map(String::as_str) == Some(conn));
        let to = match conn_res {
            Some(c) => End { address: Some(c.address.clone()), name: name_of(c) },
            None => End { address: None, name: conn.into() },
        };
        let mut hop = st.identity_hop(
            role_arn,
            IdentityHop {
                kind: HopKind::Connection,
                group: group.clone(),
                verb: format!("use connection {}", to.name),
                to,
                needs: vec![Need {
                    actions: vec!["codestar-connections:UseConnection".into(), "codeconnections:UseConnection".into()],
                    targets: vec![target.clone()],
                }],
                sid: "UseConnection",
                reference: conn_res.map(|c| format!("${{{}.arn}}", c.address)),
            },
        );
        if matches!(target, Target::Unknown { .. }) {
            hop.detail.push("the connection's ARN is known only after apply: only a pattern that matches any connection of this account and region (or the policy's reference to this connection) can grant it".into());
        }
        out.push(hop);
    }
    // The artifact bucket.
    if let Some(bucket) = s(&p.state, "artifact_bucket") {
        let to = match st.of_kind("s3_bucket").find(|b| name_of(b) == bucket) {
            Some(b) => End { address: Some(b.address.clone()), name: bucket.into() },
            None => End { address: None, name: bucket.into() },
        };
        let t = bucket_object_target(st, bucket);
        let mut hop = st.identity_hop(
            role_arn,
            IdentityHop {
                kind: HopKind::PipelineArtifacts,
                group: group.clone(),
                verb: format!("read and write artifacts in {bucket}"),
                to,
                needs: vec![need("s3:GetObject", t.clone()), need("s3:PutObject", t)],
                sid: "ArtifactStore",
                reference: None,
            },
        );
        hop.detail.push(
            "checked: s3:GetObject and s3:PutObject on the bucket's objects, the calls CodePipeline makes to store the source \
             artifact and hand artifacts to actions; the console's policy also grants GetObjectVersion, GetBucketVersioning and \
             GetBucketLocation, which are not needed on that path"
                .into(),
        );
        if let Some(h) = hop.fix.as_mut() {
            if let Some(stmt) = h.statement.as_mut() {
                stmt["Resource"] = json!(format!("arn:{}:s3:::{bucket}/*", st.ctx.partition));
                h.help = format!("add this statement to {}: {stmt}", h.policy);
            }
        }
        out.push(hop);
    }
    // Build actions, approvals, roles passed.
    for a in &actions {
        let cfg = a.get("configuration").cloned().unwrap_or(Value::Null);
        let provider = s(a, "provider").unwrap_or_default();
        if provider == "CodeBuild" {
            if let Some(project) = s(&cfg, "ProjectName") {
                let pres = st.of_kind("codebuild_project").find(|c| name_of(c) == project);
                let arn = pres.and_then(|c| known(c, "arn")).unwrap_or_else(|| st.arn("codebuild", true, &format!("project/{project}")));
                let batch = cfg.get("BatchEnabled").is_some_and(|b| b == &json!(true) || b == &json!("true"));
                let (start, watch) =
                    if batch { ("codebuild:StartBuildBatch", "codebuild:BatchGetBuildBatches") } else { ("codebuild:StartBuild", "codebuild:BatchGetBuilds") };
                let t = Target::Arn(arn);
                out.push(st.identity_hop(
                    role_arn,
                    IdentityHop {
                        kind: HopKind::StartBuild,
                        group: group.clone(),
                        verb: format!("start and watch {project}"),
                        to: End { address: pres.map(|c| c.address.clone()), name: project.into() },
                        needs: vec![need(start, t.clone()), need(watch, t)],
                        sid: "StartBuilds",
                        reference: None,
                    },
                ));
            }
        }
        if s(a, "category") == Some("Approval") {
            if let Some(topic) = s(&cfg, "NotificationArn") {
                let tres = st.of_kind("sns_topic").find(|t| t.attrs.get("arn").map(String::as_str) == Some(topic));
                let name = tres.map(name_of).unwrap_or_else(|| topic.rsplit(':').next().unwrap_or(topic).to_string());
                out.push(st.identity_hop(
                    role_arn,
                    IdentityHop {
                        kind: HopKind::ApprovalTopic,
                        group: group.clone(),
                        verb: format!("publish to {name}"),
                        to: End { address: tres.map(|t| t.address.clone()), name },
                        needs: vec![need("sns:Publish", target_or_unknown(topic, st.arn("sns", true, "")))],
                        sid: "ApprovalNotifications",
                        reference: tres.map(|t| format!("${{{}.arn}}", t.address)),
                    },
                ));
            }
        }
        if let Some(m) = cfg.as_object() {
            for (k, v) in m {
                let Some(passed) = v.as_str() else { continue };
                if !k.ends_with("RoleArn") || !passed.contains(":role/") {
                    continue;
                }
                let rres = st.role_by_arn(passed);
                out.push(st.identity_hop(
                    role_arn,
                    IdentityHop {
                        kind: HopKind::PassRole,
                        group: group.clone(),
                        verb: format!("pass role {}", passed.rsplit('/').next().unwrap_or(passed)),
                        to: rres.map(Role::end).unwrap_or(End { address: None, name: passed.into() }),
                        needs: vec![need("iam:PassRole", Target::Arn(passed.into()))],
                        sid: "PassActionRoles",
                        reference: None,
                    },
                ));
            }
        }
    }
}

fn project_hops(st: &Stack, c: &Resource, out: &mut Vec<Hop>) {
    let group = group_of(c);
    let name = name_of(c);
    let Some(role_arn) = s(&c.state, "service_role") else {
        return;
    };
    out.push(st.service_assume_hop(&group, "codebuild.amazonaws.com", "CodeBuild", role_arn));

    // Logs: the group, and streams `STREAM/<build id>` (or `<build id>` without a stream name).
    let logs = c.state.get("logs");
    let log_group = logs.and_then(|l| s(l, "group_name")).map(str::to_string).unwrap_or_else(|| format!("/aws/codebuild/{name}"));
    let stream = logs.and_then(|l| s(l, "stream_name")).map(|s| format!("{s}/")).unwrap_or_default();
    let group_arn = st.arn("logs", true, &format!("log-group:{log_group}"));
    let stream_t = Target::Unknown { prefix: format!("{group_arn}:log-stream:{stream}"), placeholder: None };
    let mut hop = st.identity_hop(
        role_arn,
        IdentityHop {
            kind: HopKind::Logs,
            group: group.clone(),
            verb: format!("write logs to {log_group}"),
            to: End { address: None, name: format!("log group {log_group}") },
            needs: vec![
                Need { actions: vec!["logs:CreateLogGroup".into()], targets: vec![Target::Arn(group_arn.clone()), Target::Arn(format!("{group_arn}:*"))] },
                need("logs:CreateLogStream", stream_t.clone()),
                need("logs:PutLogEvents", stream_t),
            ],
            sid: "BuildLogs",
            reference: None,
        },
    );
    if let Some(f) = hop.fix.as_mut() {
        if let Some(stmt) = f.statement.as_mut() {
            stmt["Resource"] = json!([group_arn, format!("{group_arn}:*")]);
            f.help = format!("add this statement to {}: {stmt}", f.policy);
        }
    }
    out.push(hop);

    // Artifacts: what the pipeline actions that run this project read and write.
    for p in st.of_kind("codepipeline") {
        let Some(bucket) = s(&p.state, "artifact_bucket") else {
            continue;
        };
        let mut read = false;
        let mut write = false;
        for a in pipeline_actions(p) {
            let runs_this = s(a, "provider") == Some("CodeBuild") && a.get("configuration").and_then(|c| s(c, "ProjectName")) == Some(name.as_str());
            if runs_this {
                read |= !str_list(a.get("input_artifacts")).is_empty();
                write |= !str_list(a.get("output_artifacts")).is_empty();
            }
        }
        if !read && !write {
            continue;
        }
        let t = bucket_object_target(st, bucket);
        let mut needs = vec![];
        if read {
            needs.push(need("s3:GetObject", t.clone()));
        }
        if write {
            needs.push(need("s3:PutObject", t));
        }
        let verb = match (read, write) {
            (true, true) => format!("read and write artifacts in {bucket}"),
            (true, false) => format!("read artifacts from {bucket}"),
            _ => format!("write artifacts to {bucket}"),
        };
        let bres = st.of_kind("s3_bucket").find(|b| name_of(b) == bucket);
        let mut hop = st.identity_hop(
            role_arn,
            IdentityHop {
                kind: HopKind::BuildArtifacts,
                group: group.clone(),
                verb,
                to: End { address: bres.map(|b| b.address.clone()), name: bucket.into() },
                needs,
                sid: "PipelineArtifacts",
                reference: None,
            },
        );
        hop.detail.push(format!("run by {} ({})", p.address, name_of(p)));
        if let Some(f) = hop.fix.as_mut() {
            if let Some(stmt) = f.statement.as_mut() {
                stmt["Resource"] = json!(format!("arn:{}:s3:::{bucket}/*", st.ctx.partition));
                f.help = format!("add this statement to {}: {stmt}", f.policy);
            }
        }
        out.push(hop);
    }

    let vars = plaintext_vars(c);
    // ECR: log in and push to each repository whose URI is in the environment.
    for repo in st.of_kind("ecr_repository") {
        let rname = name_of(repo);
        let uri = known(repo, "uri").unwrap_or_else(|| format!("{}.dkr.ecr.{}.amazonaws.com/{rname}", st.ctx.account_id, st.ctx.region));
        let used = vars.iter().any(|(_, v)| v == &uri || v.starts_with(&format!("{uri}:")) || v.starts_with(&format!("{uri}@")));
        if !used {
            continue;
        }
        let arn = known(repo, "arn").unwrap_or_else(|| st.arn("ecr", true, &format!("repository/{rname}")));
        let t = Target::Arn(arn);
        let mut needs = vec![need("ecr:GetAuthorizationToken", Target::Arn("*".into()))];
        for a in ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"] {
            needs.push(need(a, t.clone()));
        }
        let mut hop = st.identity_hop(
            role_arn,
            IdentityHop {
                kind: HopKind::EcrPush,
                group: group.clone(),
                verb: format!("push to repository {rname}"),
                to: End { address: Some(repo.address.clone()), name: rname.clone() },
                needs,
                sid: "EcrPush",
                reference: None,
            },
        );
        // GetAuthorizationToken takes only `*`: give it its own statement.
        if let Some(f) = hop.fix.as_mut() {
            if let Some(stmt) = f.statement.clone() {
                let acts: Vec<String> =
                    str_list(stmt.get("Action")).into_iter().chain(stmt.get("Action").and_then(Value::as_str).map(str::to_string)).collect();
                let (token, push): (Vec<String>, Vec<String>) = acts.into_iter().partition(|a| a == "ecr:GetAuthorizationToken");
                let mut stmts = vec![];
                if !token.is_empty() {
                    stmts.push(json!({"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}));
                }
                if !push.is_empty() {
                    stmts.push(json!({"Sid": "EcrPush", "Effect": "Allow", "Action": one_or_list(&push), "Resource": t.text()}));
                }
                let value = if stmts.len() == 1 { stmts.remove(0) } else { json!(stmts) };
                let what = if value.is_array() { "these statements" } else { "this statement" };
                f.help = format!("add {what} to {}: {value}", f.policy);
                f.statement = Some(value);
            }
        }
        out.push(hop);
    }

    // A role of the stack named in the environment is assumed by the build (`aws sts assume-role`).
    for (var, value) in &vars {
        let Some(target) = st.role_by_arn(value) else {
            continue;
        };
        if target.arn == role_arn {
            continue;
        }
        assume_hops(st, &group, role_arn, target, var, out);
        let cluster = cluster_for(st, target, &vars);
        if let Some(cluster) = cluster {
            let carn = st.arn("eks", true, &format!("cluster/{cluster}"));
            out.push(st.identity_hop(
                &target.arn,
                IdentityHop {
                    kind: HopKind::EksDescribe,
                    group: group.clone(),
                    verb: format!("describe cluster {cluster}"),
                    to: End { address: None, name: format!("EKS cluster {cluster}") },
                    needs: vec![need("eks:DescribeCluster", Target::Arn(carn))],
                    sid: "DescribeCluster",
                    reference: None,
                },
            ));
            out.push(kubernetes_hop(st, &group, target, &cluster));
        }
    }
}

/// The cluster an assumed role works on: the cluster of its aws-auth entry or access entry, else
/// an environment variable whose name mentions CLUSTER.
fn cluster_for(st: &Stack, role: &Role, vars: &[(String, String)]) -> Option<String> {
    let stripped = strip_role_path(&role.arn);
    let from_map = st
        .of_kind("eks_aws_auth_role")
        .find(|m| s(&m.state, "role_arn").is_some_and(|a| strip_role_path(a) == stripped))
        .or_else(|| st.of_kind("eks_access_entry").find(|e| s(&e.state, "principal_arn") == Some(role.arn.as_str())))
        .and_then(|m| s(&m.state, "cluster").map(str::to_string));
    from_map
        .or_else(|| vars.iter().find(|(k, _)| k.to_ascii_uppercase().contains("CLUSTER")).map(|(_, v)| v.clone()))
        .or_else(|| st.of_kind("eks_aws_auth_role").chain(st.of_kind("eks_access_entry")).find_map(|m| s(&m.state, "cluster").map(str::to_string)))
}

fn assume_hops(st: &Stack, group: &str, caller_arn: &str, target: &Role, var: &str, out: &mut Vec<Hop>) {
    let caller = st.role_by_arn(caller_arn);
    let caller_label = caller.map(Role::label).unwrap_or_else(|| caller_arn.rsplit('/').next().unwrap_or(caller_arn).to_string());
    let caller_end = caller.map(Role::end).unwrap_or(End { address: None, name: caller_arn.into() });
    let caller_account = arn_account(caller_arn).unwrap_or(&st.ctx.account_id).to_string();
    let same_account = arn_account(&target.arn) == Some(caller_account.as_str());
    let who = Principal::Arn { arn: caller_arn.into(), account: caller_account.clone() };
    let trust = evaluate([&target.trust], &Request { principal: Some(&who), action: "sts:AssumeRole", resource: None });
    let direct = trust.is_allow() && trust.grants().iter().any(|g| matches!(g.via, Some(Via::Direct | Via::Anyone)));
    let verb = |side: &str| format!("assume {} ({side} side)", target.name);
    let note = format!("the build assumes it because {var} holds its ARN");
    let sid: String = format!("Assume{}", target.name.chars().filter(char::is_ascii_alphanumeric).collect::<String>());

    // Identity side (2a).
    let mut id_hop = st.identity_hop(
        caller_arn,
        IdentityHop {
            kind: HopKind::AssumeIdentity,
            group: group.into(),
            verb: verb("identity"),
            to: target.end(),
            needs: vec![need("sts:AssumeRole", Target::Arn(target.arn.clone()))],
            sid: &sid,
            reference: None,
        },
    );
    if id_hop.verdict == Verdict::Fail && direct && same_account && id_hop.fix.as_ref().is_some_and(|f| f.statement.is_some()) {
        // Same account and the trust names the caller itself: the trust policy alone grants it.
        id_hop.verdict = Verdict::Pass;
        id_hop.title = title(&caller_label, &Verdict::Pass, &verb("identity"));
        id_hop.fix = None;
        id_hop.detail.push("not needed: the trust policy names the caller itself, in the same account".into());
    }
    id_hop.detail.push(note.clone());
    out.push(id_hop);

    // Trust side (2b).
    let statement = json!({"Effect": "Allow", "Principal": {"AWS": caller_arn}, "Action": "sts:AssumeRole"});
    let (verdict, mut detail, fix) = match &trust {
        Decision::Allow(g) => {
            let how = if g.iter().any(|g| g.via == Some(Via::Direct)) {
                "names the caller directly".to_string()
            } else if g.iter().any(|g| g.via == Some(Via::Anyone)) {
                "admits any principal".to_string()
            } else {
                format!("admits account {caller_account}, which delegates to the caller's identity policies (the identity side)")
            };
            (Verdict::Pass, vec![format!("{how}: {}", grant_lines(g))], None)
        }
        Decision::Conditional { condition, grants } => {
            (Verdict::Conditional(condition.clone()), vec![format!("admitted {condition}, by {}", grant_lines(grants))], None)
        }
        Decision::Deny(g) => (
            Verdict::Fail,
            vec![format!("denied by {}", grant_lines(g))],
            Some(Fix {
                policy: target.trust.name.clone(),
                address: Some(target.r.address.clone()),
                statement: None,
                help: format!("remove or narrow the Deny in {}", grant_lines(g)),
            }),
        ),
        Decision::Implicit => (
            Verdict::Fail,
            vec![format!("the {} names neither {caller_arn} nor its account", target.trust.name)],
            Some(Fix {
                policy: target.trust.name.clone(),
                address: Some(target.r.address.clone()),
                statement: Some(statement.clone()),
                help: format!("add this statement to the {}: {statement}", target.trust.name),
            }),
        ),
    };
    detail.push(note);
    out.push(Hop {
        kind: HopKind::AssumeTrust,
        group: group.into(),
        title: title(&caller_label, &verdict, &verb("trust")),
        verdict,
        from: caller_end,
        to: target.end(),
        actions: vec!["sts:AssumeRole".into()],
        resource: target.arn.clone(),
        detail,
        fix,
    });
}

fn kubernetes_hop(st: &Stack, group: &str, role: &Role, cluster: &str) -> Hop {
    let stripped = strip_role_path(&role.arn);
    let maps: Vec<&Resource> = st
        .of_kind("eks_aws_auth_role")
        .filter(|m| s(&m.state, "cluster") == Some(cluster) && s(&m.state, "role_arn").is_some_and(|a| strip_role_path(a) == stripped))
        .collect();
    let entries: Vec<&Resource> =
        st.of_kind("eks_access_entry").filter(|e| s(&e.state, "cluster") == Some(cluster) && s(&e.state, "principal_arn") == Some(role.arn.as_str())).collect();
    let mode = st.opts.auth_modes.get(cluster).copied();
    let mut detail = vec![];
    let mut usable = false;
    let mut unknown_mode = false;
    let mut grants_nothing = vec![];
    for m in &maps {
        let groups = str_list(m.state.get("groups"));
        let user = s(&m.state, "username").unwrap_or("(the role's session name)");
        detail.push(format!("{}: aws-auth maps {stripped} to user {user}, groups [{}]", m.address, groups.join(", ")));
        if groups.is_empty() {
            grants_nothing.push(format!("{} maps the role to user {user} with no groups: only RBAC bindings of that user apply", m.address));
        }
        match mode {
            Some(md) if md.config_map() => usable = true,
            Some(md) => detail.push(format!("cluster {cluster} uses authentication mode {}: aws-auth is ignored", md.as_str())),
            None => unknown_mode = true,
        }
    }
    for e in &entries {
        let policies: Vec<String> = e
            .state
            .get("access_policies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let name = s(p, "policy")?.rsplit('/').next()?.to_string();
                let scope = p
                    .get("scope")
                    .map(|sc| match s(sc, "type") {
                        Some("namespace") => {
                            format!("namespaces {}", str_list(sc.get("namespaces")).join(", "))
                        }
                        _ => "cluster".to_string(),
                    })
                    .unwrap_or_else(|| "cluster".into());
                Some(format!("{name} ({scope})"))
            })
            .collect();
        let groups = str_list(e.state.get("kubernetes_groups"));
        detail.push(format!("{}: access entry with policies [{}], groups [{}]", e.address, policies.join(", "), groups.join(", ")));
        if policies.is_empty() && groups.is_empty() {
            grants_nothing.push(format!("{} associates no access policy and no group: only RBAC bindings of its username apply", e.address));
        }
        match mode {
            Some(md) if md.access_entries() => usable = true,
            Some(md) => detail.push(format!("cluster {cluster} uses authentication mode {}: access entries are refused", md.as_str())),
            None => unknown_mode = true,
        }
    }
    let verdict = if usable && grants_nothing.is_empty() {
        Verdict::Pass
    } else if usable || (unknown_mode && mode.is_none()) {
        let mut c = vec![];
        if !usable {
            let modes = match (maps.is_empty(), entries.is_empty()) {
                (false, true) => "CONFIG_MAP or API_AND_CONFIG_MAP",
                (true, false) => "API or API_AND_CONFIG_MAP",
                _ => "any mode",
            };
            c.push(format!("if cluster {cluster}'s authentication mode is {modes} (not known: the cluster was not described)"));
        }
        c.extend(grants_nothing.iter().map(|g| format!("if {g}")));
        Verdict::Conditional(c.join("; "))
    } else {
        Verdict::Fail
    };
    let fix = (verdict == Verdict::Fail).then(|| {
        let local_name = local(&role.r.address);
        let snippet = if mode == Some(AuthMode::Api) {
            format!(
                "eks_access_entry.{local_name}:\n  cluster: {cluster}\n  principal_arn: ${{{}.arn}}\n  access_policies:\n    - policy: AmazonEKSEditPolicy\n      scope: {{ type: namespace, namespaces: [default] }}",
                role.r.address
            )
        } else {
            format!(
                "eks_aws_auth_role.{local_name}:\n  cluster: {cluster}\n  role_arn: ${{{}.arn}}\n  username: {local_name}\n  groups: [<a group bound by RBAC>]",
                role.r.address
            )
        };
        Fix {
            policy: format!("Kubernetes access of cluster {cluster}"),
            address: None,
            statement: None,
            help: format!("map {} in cluster {cluster}: add to the stack\n{snippet}", role.describe()),
        }
    });
    if maps.is_empty() && entries.is_empty() {
        detail.push(format!("no eks_aws_auth_role entry for {stripped} and no eks_access_entry for {} in cluster {cluster}", role.arn));
    }
    let verb = format!("use Kubernetes on cluster {cluster}");
    Hop {
        kind: HopKind::Kubernetes,
        group: group.into(),
        title: title(&role.label(), &verdict, &verb),
        verdict,
        from: role.end(),
        to: match (maps.first(), entries.first()) {
            (Some(m), _) => End { address: Some(m.address.clone()), name: format!("aws-auth of cluster {cluster}") },
            (None, Some(e)) => End { address: Some(e.address.clone()), name: format!("access entry of cluster {cluster}") },
            _ => End { address: None, name: format!("EKS cluster {cluster}") },
        },
        actions: vec![],
        resource: st.arn("eks", true, &format!("cluster/{cluster}")),
        detail,
        fix,
    }
}

/// Condition values of `key` (any case) under operators whose name satisfies `op`.
pub(crate) fn condition_values(cond: Option<&Value>, key: &str, op: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = vec![];
    for (o, keys) in cond.and_then(Value::as_object).into_iter().flatten() {
        if !op(o) {
            continue;
        }
        for (k, v) in keys.as_object().into_iter().flatten() {
            if k.eq_ignore_ascii_case(key) {
                match v {
                    Value::Array(a) => out.extend(a.iter().filter_map(Value::as_str).map(str::to_string)),
                    Value::String(s) => out.push(s.clone()),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Why a GitHub `sub` value is not pinned to a repository and a ref or environment, if it is not.
pub(crate) fn sub_problem(sub: &str) -> Option<String> {
    let Some(rest) = sub.strip_prefix("repo:") else {
        return Some(format!("{sub:?} does not name a repository (repo:OWNER/REPO:...)"));
    };
    let (repo, qualifier) = rest.split_once(':').unwrap_or((rest, ""));
    let Some((owner, name)) = repo.split_once('/') else {
        return Some(format!("{sub:?} does not name a repository as OWNER/REPO"));
    };
    if owner.is_empty() || name.is_empty() || repo.contains(['*', '?']) {
        return Some(format!("{sub:?} does not pin one repository"));
    }
    let pinned = match qualifier.split_once(':') {
        Some(("ref", r)) => {
            r.starts_with("refs/") && !r.trim_start_matches("refs/heads/").trim_start_matches("refs/tags/").chars().all(|c| c == '*' || c == '?')
        }
        Some(("environment", e)) => !e.is_empty() && !e.chars().all(|c| c == '*' || c == '?'),
        _ => qualifier == "pull_request",
    };
    (!pinned).then(|| format!("{sub:?} pins the repository {repo} but not a ref or environment"))
}

fn github_oidc_hop(st: &Stack, role: &Role, out: &mut Vec<Hop>) {
    for stmt in &role.trust.statements {
        let Some(provider) = stmt.federated_principals().iter().find(|f| f.ends_with(&format!("oidc-provider/{GITHUB_OIDC_HOST}"))) else {
            continue;
        };
        if !stmt.covers_action("sts:AssumeRoleWithWebIdentity") || stmt.effect != super::policy::Effect::Allow {
            continue;
        }
        let cond = stmt.condition.as_ref();
        let aud = condition_values(cond, &format!("{GITHUB_OIDC_HOST}:aud"), |o| o.eq_ignore_ascii_case("StringEquals"));
        let subs =
            condition_values(cond, &format!("{GITHUB_OIDC_HOST}:sub"), |o| o.eq_ignore_ascii_case("StringEquals") || o.eq_ignore_ascii_case("StringLike"));
        let mut problems = vec![];
        let mut detail = vec![];
        if aud.is_empty() || aud.iter().any(|a| a != "sts.amazonaws.com") {
            problems.push(format!("the audience is not pinned to sts.amazonaws.com (StringEquals {GITHUB_OIDC_HOST}:aud: [{}])", aud.join(", ")));
        }
        if subs.is_empty() {
            problems.push(format!("no StringEquals/StringLike condition on {GITHUB_OIDC_HOST}:sub: every repository on GitHub can assume the role"));
        }
        problems.extend(subs.iter().filter_map(|s| sub_problem(s)));
        if problems.is_empty() {
            detail.push(format!("audience sts.amazonaws.com; subjects {}", subs.join(", ")));
        }
        // The provider: in the stack, with the audience among its client ids.
        match st.of_kind("iam_oidc_provider").find(|p| p.attrs.get("arn").map(String::as_str) == Some(provider.as_str())) {
            Some(p) => {
                let ids = str_list(p.state.get("client_ids"));
                if !ids.iter().any(|i| i == "sts.amazonaws.com") {
                    problems.push(format!("{} does not list sts.amazonaws.com among its client_ids", p.address));
                }
            }
            None => detail.push(format!("the provider {provider} is not in this stack: it must exist in the account")),
        }
        let verdict = if problems.is_empty() { Verdict::Pass } else { Verdict::Fail };
        let fix = (verdict == Verdict::Fail).then(|| {
            let statement = json!({
                "Effect": "Allow",
                "Principal": {"Federated": provider},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{GITHUB_OIDC_HOST}:aud"): "sts.amazonaws.com",
                    format!("{GITHUB_OIDC_HOST}:sub"): "repo:OWNER/REPO:ref:refs/heads/main"
                }}
            });
            Fix {
                policy: role.trust.name.clone(),
                address: Some(role.r.address.clone()),
                statement: Some(statement.clone()),
                help: format!("replace statement {} of the {} with (your repository and branch or environment): {statement}", stmt.index + 1, role.trust.name),
            }
        });
        detail.extend(problems);
        out.push(Hop {
            kind: HopKind::GithubOidc,
            group: format!("{} ({})", role.r.address, role.name),
            title: match verdict {
                Verdict::Pass => format!("GitHub Actions can assume {} only from the pinned repository and ref", role.name),
                _ => format!("GitHub Actions can assume {} from more than one repository and ref", role.name),
            },
            verdict,
            from: End { address: None, name: provider.clone() },
            to: role.end(),
            actions: vec!["sts:AssumeRoleWithWebIdentity".into()],
            resource: role.arn.clone(),
            detail,
            fix,
        });
    }
}

/// Explain one request of a stack role, e.g. the `AccessDenied` of an apply or a build: which
/// statements allow or deny `action` on `resource` for the role with ARN `role_arn`, and what to
/// add when nothing allows it.
pub fn explain(resources: &[Resource], ctx: &Context, opts: &Options, role_arn: &str, action: &str, resource: &str) -> Hop {
    let st = Stack::new(resources, ctx, opts);
    let short = action.split_once(':').map_or(action, |(_, a)| a);
    st.identity_hop(
        role_arn,
        IdentityHop {
            kind: HopKind::Request,
            group: "explain".into(),
            verb: format!("{action} on {resource}"),
            to: End { address: None, name: resource.into() },
            needs: vec![need(action, Target::Arn(resource.into()))],
            sid: short,
            reference: None,
        },
    )
}
