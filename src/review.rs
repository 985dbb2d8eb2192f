//! `provision check` on a stack: resolve it (offline, or with the account a plan reached), hand the
//! resolved resources to the pure `check` analysis, and turn its report into output.

use crate::aws::{Aws, CallResult};
use crate::check::{self, AuthMode, Context, ManagedPolicies, Options, Report, SourceLocation, Suppression, Tone};
use crate::contract::{Ctx, Settings, UNKNOWN};
use crate::engine::plan::resolved;
use crate::kube::Clusters;
use crate::render::Style;
use crate::resources::Kinds;
use crate::stack::Stack;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A context for checking without AWS: the account and (unless the stack pins one) the region stay
/// symbolic, so ARNs read `arn:aws:iam::${account_id}:role/X`.
pub fn offline(stack: &Stack) -> Ctx {
    let config = aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build();
    Ctx {
        aws: Arc::new(Aws::from_config(config, false, None)),
        stack: stack.name.clone(),
        account_id: "${account_id}".into(),
        region: stack.region.clone().unwrap_or_else(|| "${region}".into()),
        partition: "aws".into(),
        settings: Settings::default(),
        backup_dir: Default::default(),
        clusters: Clusters::default(),
    }
}

/// Check the stack in `ctx`: clusters already described there lend their authentication mode,
/// `managed` the policy documents (the bundled snapshot, or live ones).
pub fn review(ctx: &Ctx, stack: &Stack, managed: ManagedPolicies) -> crate::Result<Report> {
    let resources: Vec<check::Resource> = resolved(ctx, stack, &Kinds)?
        .into_iter()
        .map(|(address, state, attrs)| check::Resource {
            kind: address.kind.clone(),
            address: address.to_string(),
            state,
            attrs: attrs.into_iter().map(|(k, v)| (k, v.unwrap_or_else(|| UNKNOWN.to_string()))).collect(),
        })
        .collect();
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
    Ok(check::check(&resources, &context, &Options { managed, auth_modes, suppressions }))
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
    let docs = crate::aws::reads::each(ctx.settings.read_parallelism, arns, |arn| async move {
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
        if !keep {
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
