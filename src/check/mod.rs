//! `provision check`: will the pipeline work, and is it safe? A pure analysis of a stack's resolved
//! resources — no AWS calls, no files read (bundled data comes in through `include_str!`).
//!
//! Two halves, one [`Report`]:
//!
//! - **Hops** ([`Hop`]): the permission chain the pipeline walks at run time, derived from the
//!   resources — CodePipeline assumes its role, uses the GitHub connection, reads and writes the
//!   artifact bucket, starts each CodeBuild project, publishes to the approval topic; CodeBuild
//!   assumes each project's role, writes its logs, reads and writes artifacts, pushes to the ECR
//!   repositories named in its environment, assumes the kubectl role named there (identity side
//!   and trust side), which describes the cluster and is mapped in Kubernetes; GitHub OIDC roles
//!   pin audience and subject. Each hop is [`Verdict::Pass`], [`Verdict::Fail`] (naming both ends,
//!   the action and resource, the policy to change and the statement to add) or
//!   [`Verdict::Conditional`] (a grant that depends on an IAM condition or on something the stack
//!   does not show, with that condition's text).
//! - **Lint** ([`Finding`]): rules with stable ids and severities (see [`rules`]), each suppressible
//!   per resource with a reason ([`Suppression`]).
//!
//! The report renders as human text ([`Report::human`]: plain lines, each with a [`Tone`] for the
//! caller to colour), JSON ([`Report::to_json`], shape documented there) and SARIF 2.1.0
//! ([`Report::to_sarif`]).
//!
//! ```no_run
//! use provision::check::{check, Context, Options};
//! # let resources = vec![];
//! let ctx = Context { account_id: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() };
//! let report = check(&resources, &ctx, &Options::default());
//! for line in report.human() {
//!     println!("{}", line.text);
//! }
//! std::process::exit(if report.failed() { 1 } else { 0 });
//! ```
//!
//! Limits: IAM conditions are reported, never evaluated; permission boundaries, SCPs, session
//! policies, resource policies on buckets/topics/repositories and KMS key policies are not in a
//! stack and are not considered.

mod catalog;
mod hops;
mod lint;
mod managed;
pub mod policy;
mod render;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod sarif_schema;

use serde_json::Value;
use std::collections::BTreeMap;

pub use catalog::{Catalog, Known};
pub use hops::{explain, hops};
pub use lint::{lint, rules, Rule};
pub use managed::ManagedPolicies;
pub use render::{Line, SourceLocation, Tone};

/// One resolved resource of a stack: address `kind.name`, kind, and its desired state as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub address: String,
    pub kind: String,
    pub state: Value,
    /// Attributes known at plan time: `arn`, `uri` (ecr_repository), `name`. A value not known yet
    /// is the text `(known after apply)`.
    pub attrs: BTreeMap<String, String>,
}

/// Where the stack is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// A 12-digit account id, or any placeholder text when checking offline (treated as opaque).
    pub account_id: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    pub region: String,
}

/// Silence one lint rule on one resource, with the reason written down. A suppression without a
/// reason is not applied (and is reported).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suppression {
    pub address: String,
    pub rule: String,
    pub reason: String,
}

/// An EKS cluster's authentication mode (`DescribeCluster` → `accessConfig.authenticationMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMode {
    ConfigMap,
    Api,
    ApiAndConfigMap,
}

impl AuthMode {
    /// `CONFIG_MAP`, `API`, `API_AND_CONFIG_MAP`.
    pub fn parse(s: &str) -> Option<AuthMode> {
        match s {
            "CONFIG_MAP" => Some(AuthMode::ConfigMap),
            "API" => Some(AuthMode::Api),
            "API_AND_CONFIG_MAP" => Some(AuthMode::ApiAndConfigMap),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::ConfigMap => "CONFIG_MAP",
            AuthMode::Api => "API",
            AuthMode::ApiAndConfigMap => "API_AND_CONFIG_MAP",
        }
    }
    /// Whether the `aws-auth` ConfigMap is honoured.
    pub fn config_map(self) -> bool {
        self != AuthMode::Api
    }
    /// Whether EKS access entries are honoured.
    pub fn access_entries(self) -> bool {
        self != AuthMode::ConfigMap
    }
}

/// What the caller knows beyond the stack.
#[derive(Clone, Debug)]
pub struct Options {
    /// Documents of managed policies: the bundled snapshot by default; insert live ones.
    pub managed: ManagedPolicies,
    /// Authentication mode per cluster name, when the cluster could be described.
    pub auth_modes: BTreeMap<String, AuthMode>,
    pub suppressions: Vec<Suppression>,
}

impl Default for Options {
    fn default() -> Self {
        Options { managed: ManagedPolicies::bundled(), auth_modes: BTreeMap::new(), suppressions: vec![] }
    }
}

/// A hop's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// Works only if the condition holds (text such as
    /// `if StringEquals aws:SourceAccount = "123456789012"`).
    Conditional(String),
}

impl Verdict {
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Conditional(_) => "conditional",
        }
    }
}

/// One end of a hop: a stack resource (address and AWS name) or something outside the stack (a
/// service principal, a role named by ARN).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    pub address: Option<String>,
    pub name: String,
}

impl End {
    /// `iam_role.build (buildphase-codebuild-eks-devops-service-role)` or the bare name.
    pub fn describe(&self) -> String {
        match &self.address {
            Some(a) => format!("{a} ({})", self.name),
            None => self.name.clone(),
        }
    }
}

/// How to make a failing hop pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fix {
    /// The policy to change, e.g. `inline policy codebuild-base of iam_role.build (NAME)` or
    /// `trust policy of iam_role.kubectl (EksCodeBuildKubectlRole)`.
    pub policy: String,
    /// The stack address that holds that policy.
    pub address: Option<String>,
    /// The exact IAM statement to add, when the fix is a statement.
    pub statement: Option<Value>,
    /// One paragraph: what to do (includes the statement, or a stack snippet).
    pub help: String,
}

/// The kinds of hop, each with a stable id (also its SARIF rule id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HopKind {
    ServiceAssume,
    Connection,
    PipelineArtifacts,
    StartBuild,
    ApprovalTopic,
    PassRole,
    Logs,
    BuildArtifacts,
    EcrPush,
    AssumeIdentity,
    AssumeTrust,
    EksDescribe,
    Kubernetes,
    GithubOidc,
    /// One request of one role, from [`explain`].
    Request,
}

impl HopKind {
    pub const ALL: [HopKind; 15] = [
        HopKind::ServiceAssume,
        HopKind::Connection,
        HopKind::PipelineArtifacts,
        HopKind::StartBuild,
        HopKind::ApprovalTopic,
        HopKind::PassRole,
        HopKind::Logs,
        HopKind::BuildArtifacts,
        HopKind::EcrPush,
        HopKind::AssumeIdentity,
        HopKind::AssumeTrust,
        HopKind::EksDescribe,
        HopKind::Kubernetes,
        HopKind::GithubOidc,
        HopKind::Request,
    ];

    pub fn id(self) -> &'static str {
        match self {
            HopKind::ServiceAssume => "hop/service-assume-role",
            HopKind::Connection => "hop/use-connection",
            HopKind::PipelineArtifacts => "hop/pipeline-artifacts",
            HopKind::StartBuild => "hop/start-build",
            HopKind::ApprovalTopic => "hop/approval-topic",
            HopKind::PassRole => "hop/pass-role",
            HopKind::Logs => "hop/build-logs",
            HopKind::BuildArtifacts => "hop/build-artifacts",
            HopKind::EcrPush => "hop/ecr-push",
            HopKind::AssumeIdentity => "hop/assume-role-identity",
            HopKind::AssumeTrust => "hop/assume-role-trust",
            HopKind::EksDescribe => "hop/eks-describe-cluster",
            HopKind::Kubernetes => "hop/kubernetes-access",
            HopKind::GithubOidc => "hop/github-oidc",
            HopKind::Request => "hop/request",
        }
    }

    /// One line: what the hop checks.
    pub fn describe(self) -> &'static str {
        match self {
            HopKind::ServiceAssume => "CodePipeline / CodeBuild can assume the service role it is given (the role's trust policy names the service)",
            HopKind::Connection => "The pipeline role may use the CodeStar/CodeConnections connection of each source action (UseConnection)",
            HopKind::PipelineArtifacts => "The pipeline role may read and write objects in its artifact bucket (s3:GetObject, s3:PutObject)",
            HopKind::StartBuild => "The pipeline role may start and watch each CodeBuild project its actions name (StartBuild, BatchGetBuilds)",
            HopKind::ApprovalTopic => "The pipeline role may publish to the SNS topic of each manual approval action",
            HopKind::PassRole => "The pipeline role may pass the role an action configuration names (iam:PassRole)",
            HopKind::Logs => "A build project's role may create its log group and write its log streams in CloudWatch Logs",
            HopKind::BuildArtifacts => "A build project's role may read its input artifacts and write its output artifacts in the pipeline's bucket",
            HopKind::EcrPush => "A build project's role may log in to ECR and push to each repository whose URI is in its environment",
            HopKind::AssumeIdentity => "A build project's role may call sts:AssumeRole on the role named in its environment (identity side)",
            HopKind::AssumeTrust => "The assumed role's trust policy admits the build project's role, directly or through its account (trust side)",
            HopKind::EksDescribe => "The assumed role may describe the EKS cluster (eks:DescribeCluster, as `aws eks update-kubeconfig` does)",
            HopKind::Kubernetes => {
                "The assumed role is mapped in the cluster (aws-auth entry or access entry) and the cluster's authentication mode honours that route"
            }
            HopKind::GithubOidc => "A GitHub Actions OIDC role pins the audience to sts.amazonaws.com and the subject to a repository and ref or environment",
            HopKind::Request => "A role of the stack may make one request (the explanation of an AccessDenied)",
        }
    }
}

/// One link of the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct Hop {
    pub kind: HopKind,
    /// The resource the hop belongs to, as a heading: `codepipeline.main (eks-devops)`.
    pub group: String,
    /// One line that reads right for the verdict: `build role cannot push to repository eks-devops`.
    pub title: String,
    pub verdict: Verdict,
    pub from: End,
    pub to: End,
    /// The IAM actions checked.
    pub actions: Vec<String>,
    /// The resource they were checked on (an ARN, `PREFIX*` for ARNs not known yet).
    pub resource: String,
    /// What grants it, what is missing, notes.
    pub detail: Vec<String>,
    /// Set when the verdict is not Pass and there is something to change.
    pub fix: Option<Fix>,
}

/// Lint severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One lint finding.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Stable rule id (see [`rules`]).
    pub rule: &'static str,
    pub severity: Severity,
    /// The resource it is about.
    pub address: String,
    pub message: String,
    pub help: Option<String>,
    /// The reason of the suppression that silenced it.
    pub suppressed: Option<String>,
}

/// Hops and lint findings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub hops: Vec<Hop>,
    pub findings: Vec<Finding>,
}

impl Report {
    /// A hop fails or an unsuppressed error-severity finding exists.
    pub fn failed(&self) -> bool {
        self.hops.iter().any(|h| h.verdict == Verdict::Fail) || self.findings.iter().any(|f| f.suppressed.is_none() && f.severity == Severity::Error)
    }
}

/// Derive the hops and lint the resources.
pub fn check(resources: &[Resource], ctx: &Context, opts: &Options) -> Report {
    Report { hops: hops(resources, ctx, opts), findings: lint(resources, ctx, opts) }
}

#[cfg(test)]
mod tests;
