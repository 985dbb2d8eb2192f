//! `provision check` on a stack: resolve it (offline, or with the account a plan reached), hand the
//! resolved resources to the pure `check` analysis, and turn its report into output.

use crate::aws::CallResult;
use crate::check::{self, AuthMode, Context, ManagedPolicies, Options, Report, SourceLocation, Suppression, Tone};
use crate::contract::{Ctx, Plan, Settings, UNKNOWN};
use crate::engine::plan::resolved;
use crate::render::Style;
use crate::resources::Kinds;
use crate::stack::Stack;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// A context for checking without AWS: the account and (unless the stack pins one) the region stay
/// symbolic, so ARNs read `arn:aws:iam::${account_id}:role/X`.
pub fn offline(stack: &Stack) -> Ctx {
    Ctx::offline(&stack.name, "${account_id}", stack.region.as_deref().unwrap_or("${region}"), Settings::default())
}

/// The engine's resolved resources as `check` takes them.
fn for_check(resolved: Vec<(crate::contract::Address, serde_json::Value, crate::contract::Attrs)>) -> Vec<check::Resource> {
    resolved
        .into_iter()
        .map(|(address, state, attrs)| check::Resource {
            kind: address.kind.clone(),
            address: address.to_string(),
            state,
            attrs: attrs.into_iter().map(|(k, v)| (k, v.unwrap_or_else(|| UNKNOWN.to_string()))).collect(),
        })
        .collect()
}

/// Check the stack in `ctx`: clusters already described there lend their authentication mode,
/// `managed` the policy documents (the bundled snapshot, or live ones).
pub fn review(ctx: &Ctx, stack: &Stack, managed: ManagedPolicies) -> crate::Result<Report> {
    Ok(report(ctx, stack, for_check(resolved(ctx, stack, &Kinds)?), managed))
}

/// A plan and the check of the same stack at once: the check's CPU (every resource resolved, every
/// policy evaluated) runs on a thread of its own while the plan waits for AWS. The clusters'
/// authentication modes come from the same DescribeCluster the plan makes (one read, shared).
pub async fn alongside(ctx: &Ctx, stack: &Stack, plan: impl Future<Output = crate::Result<Plan>>) -> crate::Result<(Plan, Report)> {
    let rt = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let review = s.spawn(|| {
                let resources = for_check(resolved(ctx, stack, &Kinds)?);
                let clusters: BTreeSet<&str> = resources.iter().filter_map(|r| r.state["cluster"].as_str()).collect();
                for cluster in clusters {
                    // One that cannot be described: the plan says why; the check goes without its mode.
                    let _ = rt.block_on(ctx.clusters.describe(&ctx.aws, &ctx.region, cluster));
                }
                Ok::<_, crate::Error>(report(ctx, stack, resources, ManagedPolicies::bundled()))
            });
            let plan = rt.block_on(plan);
            let report = review.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            Ok((plan?, report?))
        })
    })
}

fn report(ctx: &Ctx, stack: &Stack, resources: Vec<check::Resource>, managed: ManagedPolicies) -> Report {
    let mut auth_modes = BTreeMap::new();
    for r in &resources {
        if let Some(cluster) = r.state["cluster"].as_str() {
            if let Some(mode) = ctx.clusters.described(cluster).and_then(|c| AuthMode::parse(&c.authentication_mode)) {
                auth_modes.insert(cluster.to_string(), mode);
            }
        }
    }
    let suppressions = stack
        .resources
        .iter()
        .flat_map(|r| r.lint_ignore.iter().map(|(rule, reason)| Suppression { address: r.address.to_string(), rule: rule.clone(), reason: reason.clone() }))
        .collect();
    let context = Context { account_id: ctx.account_id.clone(), partition: ctx.partition.clone(), region: ctx.region.clone() };
    check::check(&resources, &context, &Options { managed, auth_modes, suppressions })
}

/// The AWS-managed policies the stack attaches, as IAM has them now (the snapshot for any that
/// cannot be read).
pub async fn live_managed(ctx: &Ctx, stack: &Stack) -> crate::Result<ManagedPolicies> {
    let mut managed = ManagedPolicies::bundled();
    let mut arns: Vec<String> = resolved(ctx, stack, &Kinds)?
        .iter()
        .flat_map(|(_, s, _)| s["managed_policies"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .filter(|a| a.contains(":iam::aws:policy/"))
        .collect();
    arns.sort();
    arns.dedup();
    let iam = ctx.aws.iam();
    let docs = crate::aws::reads::each(ctx, "iam", arns, |arn| async move {
        let policy = iam.get_policy().policy_arn(&arn).send().await.op("GetPolicy")?;
        let version = policy.policy().and_then(|p| p.default_version_id()).unwrap_or("v1").to_string();
        let v = iam.get_policy_version().policy_arn(&arn).version_id(version).send().await.op("GetPolicyVersion")?;
        Ok((arn, crate::resources::iam::document(v.policy_version().and_then(|v| v.document()))))
    })
    .await?;
    for (arn, doc) in docs {
        managed.insert(arn, doc);
    }
    Ok(managed)
}

/// Where each resource is written, for SARIF results.
pub fn locations(stack: &Stack) -> BTreeMap<String, SourceLocation> {
    let mut out = BTreeMap::new();
    out.insert(String::new(), SourceLocation { file: stack.files[0].display().to_string(), line: 1, column: 1 });
    for r in &stack.resources {
        let loc = stack.loc(r.pos);
        out.insert(r.address.to_string(), SourceLocation { file: loc.file.display().to_string(), line: loc.line as u32, column: loc.col as u32 });
    }
    out
}

/// The report for people, coloured by tone.
pub fn human(report: &Report, style: Style, only_problems: bool) -> String {
    let mut out = String::new();
    for l in report.human() {
        let keep = !only_problems || !matches!(l.tone, Tone::Pass | Tone::Heading | Tone::Suppressed);
        // The blank lines that set apart groups left out would pile up.
        let spare = only_problems && l.text.is_empty() && (out.is_empty() || out.ends_with("\n\n"));
        if !keep || spare {
            continue;
        }
        let text = match l.tone {
            Tone::Fail | Tone::Error => style.red(&l.text),
            Tone::Conditional | Tone::Warning => style.yellow(&l.text),
            Tone::Pass => style.green(&l.text),
            Tone::Heading | Tone::Summary => style.bold(&l.text),
            Tone::Info | Tone::Suppressed | Tone::Detail => l.text,
        };
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// What an AccessDenied message says: who was refused what, on what; and AWS's encoded
/// authorization message, when there is one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Denied {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub encoded: Option<String>,
}

/// "User: ARN is not authorized to perform: ACTION on resource: RESOURCE [because ...]
/// [Encoded authorization failure message: TOKEN]"
pub fn parse_denied(message: &str) -> Denied {
    let after = |marker: &str| message.split_once(marker).map(|(_, rest)| rest.trim_start());
    let word = |s: &str| s.split(|c: char| c.is_whitespace()).next().unwrap_or("").trim_end_matches(['.', ',']).to_string();
    Denied {
        principal: after("User: ").map(word).filter(|w| !w.is_empty()),
        action: after("not authorized to perform: ").or_else(|| after("not authorized to perform ")).map(word).filter(|w| w.contains(':')),
        resource: after("on resource: ").map(word).filter(|w| !w.is_empty()),
        encoded: after("Encoded authorization failure message: ").map(word).filter(|w| !w.is_empty()),
    }
}

/// More lines for an AccessDenied: the decoded authorization message (sts:DecodeAuthorizationMessage,
/// as the AWS CLI course teaches) and, when the refused principal is one of the stack's roles,
/// which hop of the check fails and what to change.
pub async fn explain_denied(ctx: &Ctx, stack: &Stack, message: &str) -> Vec<String> {
    let d = parse_denied(message);
    let mut out = Vec::new();
    if let Some(token) = &d.encoded {
        match ctx.aws.sts().decode_authorization_message().encoded_message(token).send().await.op("DecodeAuthorizationMessage") {
            Ok(o) => {
                let v: serde_json::Value = o.decoded_message().and_then(|m| serde_json::from_str(m).ok()).unwrap_or_default();
                out.push(format!(
                    "decoded: allowed={}, explicitDeny={}, action {}, resource {}",
                    v["allowed"],
                    v["explicitDeny"],
                    v["context"]["action"].as_str().unwrap_or("?"),
                    v["context"]["resource"].as_str().unwrap_or("?")
                ));
            }
            Err(e) => {
                out.push(format!("the encoded message could not be decoded ({e}); `aws sts decode-authorization-message` needs sts:DecodeAuthorizationMessage"))
            }
        }
    }
    let (Some(principal), Some(action)) = (&d.principal, &d.action) else { return out };
    // An assumed-role session names its role: arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION.
    let role = principal
        .split(":assumed-role/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .or_else(|| principal.split(":role/").nth(1).map(|r| r.rsplit('/').next().unwrap_or(r)));
    let Some(role) = role else { return out };
    let Ok(resolved) = resolved(ctx, stack, &Kinds) else { return out };
    let Some(role_arn) =
        resolved.iter().find(|(a, s, _)| a.kind == "iam_role" && s["name"] == role).and_then(|(_, _, attrs)| attrs.get("arn").cloned().flatten())
    else {
        return out;
    };
    let resources = for_check(resolved);
    let context = Context { account_id: ctx.account_id.clone(), partition: ctx.partition.clone(), region: ctx.region.clone() };
    let hop = check::explain(&resources, &context, &Options::default(), &role_arn, action, d.resource.as_deref().unwrap_or("*"));
    out.push(format!("check: {}", hop.title));
    if let Some(fix) = hop.fix {
        out.push(format!("to change: {}", fix.help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_messages_are_parsed() {
        let d = parse_denied("User: arn:aws:sts::1:assumed-role/deploy/s is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::1:role/K because no identity-based policy allows the sts:AssumeRole action");
        assert_eq!(d.principal.as_deref(), Some("arn:aws:sts::1:assumed-role/deploy/s"));
        assert_eq!(d.action.as_deref(), Some("sts:AssumeRole"));
        assert_eq!(d.resource.as_deref(), Some("arn:aws:iam::1:role/K"));
        let e = parse_denied("You are not authorized to perform this operation. Encoded authorization failure message: AbC-123_x");
        assert_eq!(e.encoded.as_deref(), Some("AbC-123_x"));
        assert_eq!(e.action, None);
    }
}
