//! Scenario tests on the seed stack (the course's pipeline), lint rules, and the three views.

use super::fixture::{self, *};
use super::*;
use serde_json::json;

fn run(rs: &[Resource]) -> Report {
    check(rs, &fixture::ctx(), &fixture::opts())
}

fn failing(r: &Report) -> Vec<String> {
    r.hops.iter().filter(|h| h.verdict == Verdict::Fail).map(|h| h.title.clone()).collect()
}

fn not_passing(r: &Report) -> Vec<String> {
    r.hops.iter().filter(|h| h.verdict != Verdict::Pass).map(|h| h.title.clone()).collect()
}

fn hop<'r>(r: &'r Report, title: &str) -> &'r Hop {
    r.hops.iter().find(|h| h.title == title).unwrap_or_else(|| panic!("no hop {title:?} in {:#?}", r.hops.iter().map(|h| &h.title).collect::<Vec<_>>()))
}

#[test]
fn the_seed_stack_passes_every_hop() {
    let r = run(&fixture::seed());
    let titles: Vec<(&str, &str)> = r.hops.iter().map(|h| (h.kind.id(), h.title.as_str())).collect();
    assert_eq!(
        titles,
        [
            ("hop/service-assume-role", "CodePipeline can assume pipeline role (eks-devops-codepipeline-service-role)"),
            ("hop/use-connection", "pipeline role can use connection eks-devops-github-connection"),
            ("hop/pipeline-artifacts", "pipeline role can read and write artifacts in eks-devops-artifacts-123456789012-us-east-1"),
            ("hop/start-build", "pipeline role can start and watch build-eks-devops"),
            ("hop/approval-topic", "pipeline role can publish to eks-devops-topic1"),
            ("hop/start-build", "pipeline role can start and watch deploy-eks-devops"),
            ("hop/service-assume-role", "CodeBuild can assume build role (buildphase-codebuild-eks-devops-service-role)"),
            ("hop/build-logs", "build role can write logs to buildphase-cb-eks-deveops-group"),
            ("hop/build-artifacts", "build role can read and write artifacts in eks-devops-artifacts-123456789012-us-east-1"),
            ("hop/ecr-push", "build role can push to repository eks-devops"),
            ("hop/service-assume-role", "CodeBuild can assume deploy role (deployphase-codebuild-eks-devops-service-role)"),
            ("hop/build-logs", "deploy role can write logs to deployphase-cb-eks-deveops-group"),
            ("hop/build-artifacts", "deploy role can read artifacts from eks-devops-artifacts-123456789012-us-east-1"),
            ("hop/assume-role-identity", "deploy role can assume EksCodeBuildKubectlRole (identity side)"),
            ("hop/assume-role-trust", "deploy role can assume EksCodeBuildKubectlRole (trust side)"),
            ("hop/eks-describe-cluster", "kubectl role can describe cluster eksdemo1"),
            ("hop/kubernetes-access", "kubectl role can use Kubernetes on cluster eksdemo1"),
        ]
    );
    assert!(not_passing(&r).is_empty(), "{:#?}", r.human());
    // The trust side passes through the account root: say so.
    let trust = hop(&r, "deploy role can assume EksCodeBuildKubectlRole (trust side)");
    assert!(trust.detail[0].starts_with("admits account 123456789012, which delegates"), "{:?}", trust.detail);
}

#[test]
fn hops_on_the_seed_run_well_under_a_second() {
    let rs = fixture::seed();
    let (ctx, opts) = (fixture::ctx(), fixture::opts());
    let start = std::time::Instant::now();
    let n = 20;
    for _ in 0..n {
        assert_eq!(hops(&rs, &ctx, &opts).len(), 17);
    }
    let each = start.elapsed() / n;
    let full = std::time::Instant::now();
    let _ = check(&rs, &ctx, &opts);
    println!("hops on the seed stack: {each:?} each (mean of {n}); hops + lint: {:?}", full.elapsed());
    assert!(each < std::time::Duration::from_millis(500), "{each:?}");
}

#[test]
fn offline_the_authentication_mode_is_unknown_so_kubernetes_is_conditional() {
    let r = check(&fixture::seed(), &fixture::ctx(), &Options::default());
    assert_eq!(not_passing(&r), ["kubectl role can use Kubernetes on cluster eksdemo1, conditionally"]);
    let k = &r.hops.last().unwrap().verdict;
    assert_eq!(
        k,
        &Verdict::Conditional(
            "if cluster eksdemo1's authentication mode is CONFIG_MAP or API_AND_CONFIG_MAP (not known: the cluster was not described)".into()
        )
    );
    // An API-only cluster ignores aws-auth: the hop fails and says to use an access entry.
    let mut o = Options::default();
    o.auth_modes.insert("eksdemo1".into(), AuthMode::Api);
    let r = check(&fixture::seed(), &fixture::ctx(), &o);
    assert_eq!(failing(&r), ["kubectl role cannot use Kubernetes on cluster eksdemo1"]);
    assert!(r.hops.last().unwrap().fix.as_ref().unwrap().help.contains("eks_access_entry.kubectl:"));
}

/// Step-06-04: the first run fails because the build role cannot push to ECR.
#[test]
fn step_06_04_without_ecr_full_access_only_the_push_fails() {
    let mut rs = fixture::seed();
    detach(&mut rs, "iam_role.build", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess");
    let r = run(&rs);
    assert_eq!(failing(&r), ["build role cannot push to repository eks-devops"]);
    assert_eq!(not_passing(&r).len(), 1);
    let h = hop(&r, "build role cannot push to repository eks-devops");
    assert_eq!(h.from.describe(), "iam_role.build (buildphase-codebuild-eks-devops-service-role)");
    assert_eq!(h.to.describe(), "ecr_repository.app (eks-devops)");
    let fix = h.fix.as_ref().unwrap();
    assert_eq!(fix.policy, "inline policy codebuild-base of iam_role.build (buildphase-codebuild-eks-devops-service-role)");
    assert_eq!(
        fix.statement.as_ref().unwrap(),
        &json!([
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Sid": "EcrPush", "Effect": "Allow",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"],
             "Resource": "arn:aws:ecr:us-east-1:123456789012:repository/eks-devops"}
        ])
    );
    // The statement it proposes makes the hop pass.
    let mut fixed = rs.clone();
    let role = get(&mut fixed, "iam_role.build");
    let stmts = role.state["inline_policies"]["codebuild-base"]["Statement"].as_array_mut().unwrap();
    stmts.extend(fix.statement.as_ref().unwrap().as_array().unwrap().iter().cloned());
    assert!(failing(&run(&fixed)).is_empty());
}

/// Step-06-04 also adds CloudWatchLogsFullAccess, but the stack's inline policy already grants
/// the build's log group and streams: removing it alone breaks nothing.
#[test]
fn step_06_04_logs_come_from_the_inline_policy() {
    let mut rs = fixture::seed();
    detach(&mut rs, "iam_role.build", "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess");
    assert!(not_passing(&run(&rs)).is_empty());
    // Without the inline Logs statement too, exactly the log hop fails.
    let role = get(&mut rs, "iam_role.build");
    role.state["inline_policies"]["codebuild-base"]["Statement"].as_array_mut().unwrap().retain(|s| s["Sid"] != "Logs");
    let r = run(&rs);
    assert_eq!(failing(&r), ["build role cannot write logs to buildphase-cb-eks-deveops-group"]);
    let fix = hop(&r, "build role cannot write logs to buildphase-cb-eks-deveops-group").fix.clone().unwrap();
    assert_eq!(
        fix.statement.unwrap(),
        json!({"Sid": "BuildLogs", "Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
               "Resource": ["arn:aws:logs:us-east-1:123456789012:log-group:buildphase-cb-eks-deveops-group",
                            "arn:aws:logs:us-east-1:123456789012:log-group:buildphase-cb-eks-deveops-group:*"]})
    );
}

/// Step-07-03: the pipeline role needs CodeBuild permissions to start the builds.
#[test]
fn step_07_03_without_codebuild_access_the_pipeline_cannot_start_builds() {
    let mut rs = fixture::seed();
    detach(&mut rs, "iam_role.pipeline", "arn:aws:iam::aws:policy/AWSCodeBuildAdminAccess");
    let r = run(&rs);
    assert_eq!(failing(&r), ["pipeline role cannot start and watch build-eks-devops", "pipeline role cannot start and watch deploy-eks-devops"]);
    let fix = hop(&r, "pipeline role cannot start and watch build-eks-devops").fix.clone().unwrap();
    assert_eq!(
        fix.statement.unwrap(),
        json!({"Sid": "StartBuilds", "Effect": "Allow", "Action": ["codebuild:StartBuild", "codebuild:BatchGetBuilds"],
               "Resource": "arn:aws:codebuild:us-east-1:123456789012:project/build-eks-devops"})
    );
}

/// Step-07-06: without the STS policy the deploy role cannot assume the kubectl role.
#[test]
fn step_07_06_without_the_sts_policy_the_identity_side_fails() {
    let mut rs = fixture::seed();
    detach(&mut rs, "iam_role.deploy", STS_POLICY);
    let r = run(&rs);
    assert_eq!(failing(&r), ["deploy role cannot assume EksCodeBuildKubectlRole (identity side)"]);
    assert_eq!(not_passing(&r).len(), 1);
    let h = hop(&r, "deploy role cannot assume EksCodeBuildKubectlRole (identity side)");
    assert_eq!(h.to.describe(), "iam_role.kubectl (EksCodeBuildKubectlRole)");
    let fix = h.fix.as_ref().unwrap();
    assert_eq!(
        fix.statement.as_ref().unwrap(),
        &json!({"Sid": "AssumeEksCodeBuildKubectlRole", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": KUBECTL_ROLE})
    );
    assert!(fix.help.contains("or attach iam_policy.sts_assume_kubectl (eks-codebuild-sts-assume-role), which grants it, to iam_role.deploy"), "{}", fix.help);
    let text: Vec<String> = r.human().into_iter().map(|l| l.text).collect();
    println!("{}", text.join("\n"));
    assert!(text.contains(&"        or attach iam_policy.sts_assume_kubectl (eks-codebuild-sts-assume-role), which grants it, to iam_role.deploy".to_string()));
}

/// The kubectl role's trust names another role instead of the account: the trust side fails.
#[test]
fn a_trust_narrowed_to_another_role_fails_the_trust_side() {
    let mut rs = fixture::seed();
    get(&mut rs, "iam_role.kubectl").state["trust_policy"] = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/someone-else"}, "Action": "sts:AssumeRole"}]});
    let r = run(&rs);
    assert_eq!(failing(&r), ["deploy role cannot assume EksCodeBuildKubectlRole (trust side)"]);
    let fix = hop(&r, "deploy role cannot assume EksCodeBuildKubectlRole (trust side)").fix.clone().unwrap();
    assert_eq!(fix.policy, "trust policy of iam_role.kubectl (EksCodeBuildKubectlRole)");
    assert_eq!(fix.statement.unwrap(), json!({"Effect": "Allow", "Principal": {"AWS": DEPLOY_ROLE}, "Action": "sts:AssumeRole"}));
}

/// Same account, trust naming the deploy role itself: no identity policy is needed (2b alone).
#[test]
fn a_trust_naming_the_caller_directly_needs_no_identity_policy() {
    let mut rs = fixture::seed();
    detach(&mut rs, "iam_role.deploy", STS_POLICY);
    get(&mut rs, "iam_role.kubectl").state["trust_policy"] = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": DEPLOY_ROLE}, "Action": "sts:AssumeRole"}]});
    let r = run(&rs);
    assert!(not_passing(&r).is_empty(), "{:?}", not_passing(&r));
    let id = hop(&r, "deploy role can assume EksCodeBuildKubectlRole (identity side)");
    assert!(id.detail.iter().any(|d| d.contains("not needed: the trust policy names the caller itself")));
    // An explicit Deny in the identity policies still wins.
    get(&mut rs, "iam_role.deploy").state["inline_policies"]["deny"] =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sts:*", "Resource": "*"}]});
    assert_eq!(failing(&run(&rs)), ["deploy role cannot assume EksCodeBuildKubectlRole (identity side)"]);
}

/// Step-07-05: without the aws-auth entry kubectl is not authorised in the cluster.
#[test]
fn step_07_05_without_the_aws_auth_entry_kubernetes_fails() {
    let mut rs = fixture::seed();
    rs.retain(|r| r.address != "eks_aws_auth_role.kubectl");
    let r = run(&rs);
    assert_eq!(failing(&r), ["kubectl role cannot use Kubernetes on cluster eksdemo1"]);
    let h = r.hops.last().unwrap();
    assert!(h.fix.as_ref().unwrap().help.contains("eks_aws_auth_role.kubectl:\n  cluster: eksdemo1\n  role_arn: ${iam_role.kubectl.arn}"));
    // The access-entry route works too (examples/eks-devops-access-entries.yaml).
    rs.push(Resource {
        address: "eks_access_entry.kubectl".into(),
        kind: "eks_access_entry".into(),
        state: json!({"cluster": "eksdemo1", "principal_arn": KUBECTL_ROLE, "type": "STANDARD",
                      "access_policies": [{"policy": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
                                           "scope": {"type": "namespace", "namespaces": ["default"]}}]}),
        attrs: Default::default(),
    });
    assert!(not_passing(&run(&rs)).is_empty());
}

#[test]
fn a_connection_known_only_after_apply() {
    // The policy names the same reference: granted, and the hop says how.
    let rs = fixture::seed_with_connection("(known after apply)");
    let r = run(&rs);
    assert!(not_passing(&r).is_empty(), "{:?}", not_passing(&r));
    let h = hop(&r, "pipeline role can use connection eks-devops-github-connection");
    assert_eq!(h.resource, "arn:aws:codestar-connections:us-east-1:123456789012:connection/*");
    assert!(h.detail.iter().any(|d| d.contains("not known yet")), "{:?}", h.detail);
    // AWSCodeBuildAdminAccess (Step-07-03) grants UseConnection on every connection; without it, a
    // policy that names one specific connection cannot be shown to grant a connection not created yet.
    let mut rs2 = rs.clone();
    let p = get(&mut rs2, "iam_role.pipeline");
    p.state["managed_policies"] = json!([]);
    p.state["inline_policies"]["builds"] = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], "Resource": "*"}]});
    p.state["inline_policies"]["codepipeline-base"]["Statement"][1]["Resource"] = json!(CONNECTION);
    let r = run(&rs2);
    assert_eq!(failing(&r), ["pipeline role cannot use connection eks-devops-github-connection"]);
    let fix = hop(&r, "pipeline role cannot use connection eks-devops-github-connection").fix.clone().unwrap();
    assert_eq!(fix.statement.unwrap()["Resource"], "${codestar_connection.github.arn}");
    // A pattern over every connection of the account and region does.
    p_set(&mut rs2, "arn:aws:codestar-connections:us-east-1:123456789012:connection/*");
    assert!(failing(&run(&rs2)).is_empty());
}

fn p_set(rs: &mut [Resource], resource: &str) {
    get(rs, "iam_role.pipeline").state["inline_policies"]["codepipeline-base"]["Statement"][1]["Resource"] = json!(resource);
}

#[test]
fn conditions_make_a_hop_conditional_with_the_condition_text() {
    let mut rs = fixture::seed();
    let role = get(&mut rs, "iam_role.pipeline");
    role.state["inline_policies"]["codepipeline-base"]["Statement"][2]["Condition"] = json!({"StringEquals": {"aws:RequestedRegion": "us-east-1"}});
    let r = run(&rs);
    assert_eq!(not_passing(&r), ["pipeline role can publish to eks-devops-topic1, conditionally"]);
    assert_eq!(
        hop(&r, "pipeline role can publish to eks-devops-topic1, conditionally").verdict,
        Verdict::Conditional("if StringEquals aws:RequestedRegion = \"us-east-1\"".into())
    );
}

#[test]
fn unknown_managed_policies_are_conditional_and_live_documents_are_used() {
    let mut rs = fixture::seed();
    let b = get(&mut rs, "iam_role.build");
    b.state["managed_policies"] = json!(["arn:aws:iam::aws:policy/SomeEcrPolicyNotBundled", "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"]);
    let r = run(&rs);
    assert_eq!(not_passing(&r), ["build role can push to repository eks-devops, conditionally"]);
    let mut o = fixture::opts();
    o.managed.insert(
        "arn:aws:iam::aws:policy/SomeEcrPolicyNotBundled",
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}]}),
    );
    assert!(not_passing(&check(&rs, &fixture::ctx(), &o)).is_empty());
}

#[test]
fn a_trust_without_the_service_fails_the_service_hop() {
    let mut rs = fixture::seed();
    get(&mut rs, "iam_role.deploy").state["trust_policy"] = get(&mut rs.clone(), "iam_role.pipeline").state["trust_policy"].clone();
    let r = run(&rs);
    assert_eq!(failing(&r), ["CodeBuild cannot assume deploy role (deployphase-codebuild-eks-devops-service-role)"]);
    let f = r.hops.iter().find(|h| h.verdict == Verdict::Fail).unwrap().fix.clone().unwrap();
    assert_eq!(f.statement.unwrap(), json!({"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}));
}

#[test]
fn explain_an_access_denied() {
    let rs = fixture::seed();
    let h = explain(&rs, &fixture::ctx(), &fixture::opts(), DEPLOY_ROLE, "s3:PutObject", &format!("arn:aws:s3:::{BUCKET}/x"));
    assert_eq!(h.verdict, Verdict::Fail);
    assert_eq!(h.title, format!("deploy role cannot s3:PutObject on arn:aws:s3:::{BUCKET}/x"));
    let h = explain(&rs, &fixture::ctx(), &fixture::opts(), DEPLOY_ROLE, "s3:GetObject", &format!("arn:aws:s3:::{BUCKET}/x"));
    assert_eq!(h.verdict, Verdict::Pass);
    assert!(h.detail[0].contains("statement 2 (\"PipelineArtifacts\") of inline policy codebuild-base of iam_role.deploy"), "{:?}", h.detail);
}

// ---- GitHub OIDC ----

fn github_role(condition: serde_json::Value) -> Vec<Resource> {
    let provider = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
    vec![
        Resource {
            address: "iam_oidc_provider.github".into(),
            kind: "iam_oidc_provider".into(),
            state: json!({"url": "https://token.actions.githubusercontent.com", "client_ids": ["sts.amazonaws.com"], "thumbprints": []}),
            attrs: [("arn".to_string(), provider.to_string())].into(),
        },
        Resource {
            address: "iam_role.github".into(),
            kind: "iam_role".into(),
            state: json!({"name": "gha-deploy", "path": "/", "managed_policies": [],
                "trust_policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": provider},
                    "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]}}),
            attrs: [("arn".to_string(), "arn:aws:iam::123456789012:role/gha-deploy".to_string())].into(),
        },
    ]
}

#[test]
fn github_oidc_roles_pin_audience_and_subject() {
    let pinned = github_role(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "TOKEN.actions.githubusercontent.com:SUB": "repo:stacksimplify/aws-eks-devops:ref:refs/heads/main"}}));
    let r = run(&pinned);
    assert_eq!(r.hops.len(), 1);
    assert_eq!(r.hops[0].verdict, Verdict::Pass, "{:?}", r.hops[0].detail);
    assert!(!r.findings.iter().any(|f| f.rule == "oidc-sub-wildcard"));
    for (cond, why) in [
        (json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}), "no StringEquals/StringLike condition"),
        (json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:stacksimplify/*"}}), "not pinned to sts.amazonaws.com"),
        (
            json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:stacksimplify/aws-eks-devops:*"}}),
            "but not a ref or environment",
        ),
        (
            json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "*"}}),
            "does not name a repository",
        ),
    ] {
        let r = run(&github_role(cond.clone()));
        assert_eq!(r.hops[0].verdict, Verdict::Fail, "{cond}");
        assert!(r.hops[0].detail.iter().any(|d| d.contains(why)), "{cond}: {:?}", r.hops[0].detail);
        assert!(r.hops[0].fix.as_ref().unwrap().statement.is_some());
    }
    let env = github_role(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": ["sts.amazonaws.com"],
        "token.actions.githubusercontent.com:sub": ["repo:o/r:environment:production", "repo:o/r:ref:refs/tags/v*"]}}));
    assert_eq!(run(&env).hops[0].verdict, Verdict::Pass);
}

// ---- lint ----

fn rules_fired(rs: &[Resource], opts: &Options) -> Vec<(String, String)> {
    lint(rs, &fixture::ctx(), opts).into_iter().filter(|f| f.suppressed.is_none()).map(|f| (f.rule.to_string(), f.address)).collect()
}

fn fired(rs: &[Resource]) -> Vec<(String, String)> {
    rules_fired(rs, &fixture::opts())
}

fn has(rs: &[Resource], rule: &str, address: &str) -> bool {
    fired(rs).contains(&(rule.to_string(), address.to_string()))
}

#[test]
fn the_seed_stack_lint_findings() {
    let f = lint(&fixture::seed(), &fixture::ctx(), &fixture::opts());
    let got: Vec<(&str, Severity, &str)> = f.iter().map(|f| (f.rule, f.severity, f.address.as_str())).collect();
    assert_eq!(
        got,
        [
            ("trust-account-root", Severity::Warning, "iam_role.kubectl"),
            ("full-access-policy", Severity::Warning, "iam_role.pipeline"),
            ("full-access-policy", Severity::Warning, "iam_role.build"),
            ("full-access-policy", Severity::Warning, "iam_role.build"),
            ("system-masters", Severity::Warning, "eks_aws_auth_role.kubectl"),
        ]
    );
    assert_eq!(f[0].message, "statement 1 of the trust policy of iam_role.kubectl (EksCodeBuildKubectlRole) admits the whole account (arn:aws:iam::123456789012:root), but in this stack only iam_role.deploy (deployphase-codebuild-eks-devops-service-role) assumes it");
    assert!(f[0].help.as_deref().unwrap().contains(&format!("\"AWS\":\"{DEPLOY_ROLE}\"")));
}

fn with_inline(doc: serde_json::Value) -> Vec<Resource> {
    let mut rs = fixture::seed();
    get(&mut rs, "iam_role.deploy").state["inline_policies"]["extra"] = doc;
    rs
}

fn stmt(s: serde_json::Value) -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [s]})
}

#[test]
fn rule_admin_access() {
    let mut rs = fixture::seed();
    assert!(!fired(&rs).iter().any(|(r, _)| r == "admin-access"));
    get(&mut rs, "iam_role.deploy").state["managed_policies"] = json!(["arn:aws:iam::aws:policy/AdministratorAccess"]);
    assert!(has(&rs, "admin-access", "iam_role.deploy"));
}

#[test]
fn rule_full_access_policy() {
    let mut rs = fixture::seed();
    assert!(!has(&rs, "full-access-policy", "iam_role.deploy"));
    get(&mut rs, "iam_role.deploy").state["managed_policies"] = json!(["arn:aws:iam::aws:policy/AmazonS3FullAccess"]);
    assert!(has(&rs, "full-access-policy", "iam_role.deploy"));
    // A customer-managed policy named like one is not AWS's.
    get(&mut rs, "iam_role.deploy").state["managed_policies"] = json!(["arn:aws:iam::123456789012:policy/MyFullAccess"]);
    assert!(!has(&rs, "full-access-policy", "iam_role.deploy"));
}

#[test]
fn rule_action_wildcard() {
    assert!(!has(&with_inline(stmt(json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))), "action-wildcard", "iam_role.deploy"));
    assert!(has(&with_inline(stmt(json!({"Effect": "Allow", "Action": "*", "Resource": "*"}))), "action-wildcard", "iam_role.deploy"));
    assert!(has(&with_inline(stmt(json!({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}))), "action-wildcard", "iam_role.deploy"));
    assert!(!has(&with_inline(stmt(json!({"Effect": "Deny", "Action": "*", "Resource": "*"}))), "action-wildcard", "iam_role.deploy"));
}

#[test]
fn rule_service_wildcard() {
    assert!(!has(&with_inline(stmt(json!({"Effect": "Allow", "Action": "eks:Describe*", "Resource": "*"}))), "service-wildcard", "iam_role.deploy"));
    assert!(has(&with_inline(stmt(json!({"Effect": "Allow", "Action": ["ecr:*"], "Resource": "*"}))), "service-wildcard", "iam_role.deploy"));
}

#[test]
fn rule_passrole_wildcard() {
    let scoped = stmt(json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": KUBECTL_ROLE}));
    assert!(!has(&with_inline(scoped), "passrole-wildcard", "iam_role.deploy"));
    let conditioned = stmt(json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
        "Condition": {"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}}}));
    assert!(!has(&with_inline(conditioned), "passrole-wildcard", "iam_role.deploy"));
    assert!(has(&with_inline(stmt(json!({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}))), "passrole-wildcard", "iam_role.deploy"));
    assert!(has(
        &with_inline(stmt(json!({"Effect": "Allow", "Action": "iam:Pass*", "Resource": "arn:aws:iam::123456789012:role/*"}))),
        "passrole-wildcard",
        "iam_role.deploy"
    ));
}

#[test]
fn rule_system_masters() {
    let mut rs = fixture::seed();
    assert!(has(&rs, "system-masters", "eks_aws_auth_role.kubectl"));
    get(&mut rs, "eks_aws_auth_role.kubectl").state["groups"] = json!(["deployers"]);
    assert!(!has(&rs, "system-masters", "eks_aws_auth_role.kubectl"));
}

#[test]
fn rule_trust_account_root() {
    let mut rs = fixture::seed();
    assert!(has(&rs, "trust-account-root", "iam_role.kubectl"));
    get(&mut rs, "iam_role.kubectl").state["trust_policy"] = stmt(json!({"Effect": "Allow", "Principal": {"AWS": DEPLOY_ROLE}, "Action": "sts:AssumeRole"}));
    assert!(!has(&rs, "trust-account-root", "iam_role.kubectl"));
    // A bare account id is the account root too.
    get(&mut rs, "iam_role.kubectl").state["trust_policy"] = stmt(json!({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}));
    assert!(has(&rs, "trust-account-root", "iam_role.kubectl"));
}

#[test]
fn rule_trust_any_principal() {
    let mut rs = fixture::seed();
    assert!(!fired(&rs).iter().any(|(r, _)| r == "trust-any-principal"));
    get(&mut rs, "iam_role.kubectl").state["trust_policy"] = stmt(json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}));
    assert!(has(&rs, "trust-any-principal", "iam_role.kubectl"));
    get(&mut rs, "iam_role.kubectl").state["trust_policy"] = stmt(json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}));
    assert!(has(&rs, "trust-any-principal", "iam_role.kubectl"));
}

#[test]
fn rule_oidc_sub_wildcard() {
    let ok = github_role(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:o/r:ref:refs/heads/main"}}));
    assert!(!has(&ok, "oidc-sub-wildcard", "iam_role.github"));
    let wild = github_role(json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:o/*"}}));
    assert!(has(&wild, "oidc-sub-wildcard", "iam_role.github"));
    let none = github_role(json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}));
    assert!(has(&none, "oidc-sub-wildcard", "iam_role.github"));
}

#[test]
fn rule_policy_version() {
    assert!(!has(&with_inline(stmt(json!({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))), "policy-version", "iam_role.deploy"));
    assert!(has(&with_inline(json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})), "policy-version", "iam_role.deploy"));
    assert!(has(&with_inline(json!({"Version": "2008-10-17", "Statement": []})), "policy-version", "iam_role.deploy"));
}

#[test]
fn rule_unknown_action() {
    assert!(!has(
        &with_inline(stmt(json!({"Effect": "Allow", "Action": ["eks:DescribeCluster", "eks:List*", "ec2:Whatever"], "Resource": "*"}))),
        "unknown-action",
        "iam_role.deploy"
    ));
    let typo = with_inline(stmt(json!({"Effect": "Allow", "Action": ["eks:DescribeClusters", "sts:AssumeRole"], "Resource": "*"})));
    let f = lint(&typo, &fixture::ctx(), &fixture::opts());
    let u: Vec<&Finding> = f.iter().filter(|f| f.rule == "unknown-action").collect();
    assert_eq!(u.len(), 1);
    assert!(u[0].message.contains("eks:DescribeClusters, which is not an action of eks"), "{}", u[0].message);
    assert!(has(&with_inline(stmt(json!({"Effect": "Deny", "Action": "codebuild:Strat*", "Resource": "*"}))), "unknown-action", "iam_role.deploy"));
}

#[test]
fn rule_plaintext_secret() {
    let mut rs = fixture::seed();
    assert!(!fired(&rs).iter().any(|(r, _)| r == "plaintext-secret"));
    get(&mut rs, "codebuild_project.deploy").state["environment"]["variables"]["GITHUB_TOKEN"] = json!({"value": "ghp_x", "type": "PLAINTEXT"});
    assert!(has(&rs, "plaintext-secret", "codebuild_project.deploy"));
    get(&mut rs, "codebuild_project.deploy").state["environment"]["variables"]["GITHUB_TOKEN"] =
        json!({"value": "/ci/github-token", "type": "PARAMETER_STORE"});
    assert!(!has(&rs, "plaintext-secret", "codebuild_project.deploy"));
}

#[test]
fn suppressions_need_a_reason() {
    let rs = fixture::seed();
    let mut o = fixture::opts();
    o.suppressions.push(Suppression {
        address: "eks_aws_auth_role.kubectl".into(),
        rule: "system-masters".into(),
        reason: "the course's Step-07-05 does it".into(),
    });
    o.suppressions.push(Suppression { address: "iam_role.build".into(), rule: "full-access-policy".into(), reason: " ".into() });
    let f = lint(&rs, &fixture::ctx(), &o);
    let sm = f.iter().find(|f| f.rule == "system-masters").unwrap();
    assert_eq!(sm.suppressed.as_deref(), Some("the course's Step-07-05 does it"));
    assert!(f.iter().filter(|f| f.rule == "full-access-policy" && f.address == "iam_role.build").all(|f| f.suppressed.is_none()));
    assert!(has_rule(&f, "suppression-reason", "iam_role.build"));
    assert!(!has_rule(&lint(&rs, &fixture::ctx(), &fixture::opts()), "suppression-reason", "iam_role.build"));
}

fn has_rule(f: &[Finding], rule: &str, address: &str) -> bool {
    f.iter().any(|f| f.rule == rule && f.address == address)
}

#[test]
fn every_rule_has_a_test_and_a_unique_id() {
    let src = include_str!("tests.rs");
    let mut ids: Vec<&str> = rules().iter().map(|r| r.id).collect();
    for id in &ids {
        let name = format!("fn rule_{}", id.replace('-', "_"));
        assert!(src.contains(&name) || *id == "suppression-reason", "no test {name}");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), rules().len());
}

// ---- views ----

fn broken_seed() -> Report {
    let mut rs = fixture::seed();
    detach(&mut rs, "iam_role.build", "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess");
    let mut o = fixture::opts();
    o.auth_modes.clear();
    o.suppressions.push(Suppression { address: "eks_aws_auth_role.kubectl".into(), rule: "system-masters".into(), reason: "as in the course".into() });
    check(&rs, &fixture::ctx(), &o)
}

#[test]
fn the_human_view() {
    let r = broken_seed();
    let lines = r.human();
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    println!("{}", text.join("\n"));
    assert_eq!(lines[0], Line { tone: Tone::Heading, text: "codepipeline.main (eks-devops)".into() });
    let fail = lines.iter().position(|l| l.tone == Tone::Fail).unwrap();
    assert_eq!(lines[fail].text, "  FAIL  build role cannot push to repository eks-devops");
    assert!(text.contains(&"        change: inline policy codebuild-base of iam_role.build (buildphase-codebuild-eks-devops-service-role)"));
    assert!(text.iter().any(|l| l.trim() == "\"Action\": \"ecr:GetAuthorizationToken\","));
    assert!(lines.iter().any(|l| l.tone == Tone::Conditional && l.text.contains("Kubernetes")));
    assert!(lines.iter().any(|l| l.tone == Tone::Suppressed && l.text.contains("system-masters")));
    assert_eq!(lines.last().unwrap().text, "17 hops: 15 ok, 1 failed, 1 conditional; lint: 0 errors, 3 warnings, 0 notes (1 suppressed)");
    assert!(r.failed());
    assert!(!run(&fixture::seed()).failed(), "warnings alone do not fail");
}

#[test]
fn the_json_view() {
    let v = broken_seed().to_json();
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["summary"],
        json!({"hops": 17, "pass": 15, "fail": 1, "conditional": 1, "errors": 0, "warnings": 3, "notes": 0, "suppressed": 1, "failed": true})
    );
    let f = v["hops"].as_array().unwrap().iter().find(|h| h["verdict"] == "fail").unwrap();
    assert_eq!(f["id"], "hop/ecr-push");
    assert_eq!(f["from"], json!({"address": "iam_role.build", "name": "buildphase-codebuild-eks-devops-service-role"}));
    assert_eq!(f["fix"]["address"], "iam_role.build");
    assert!(f["fix"]["statement"].is_array());
    let c = v["hops"].as_array().unwrap().iter().find(|h| h["verdict"] == "conditional").unwrap();
    assert!(c["condition"].as_str().unwrap().starts_with("if cluster eksdemo1's authentication mode"));
    assert_eq!(v["findings"][0]["suppressed"], serde_json::Value::Null);
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["suppressed"] == "as in the course"));
}

#[test]
fn the_sarif_view_is_valid_sarif_2_1_0() {
    let r = broken_seed();
    let mut locs = std::collections::BTreeMap::new();
    locs.insert("iam_role.build".to_string(), SourceLocation { file: "stacks/eks-devops.yaml".into(), line: 73, column: 3 });
    locs.insert("".to_string(), SourceLocation { file: "stacks/eks-devops.yaml".into(), line: 1, column: 1 });
    for log in [r.to_sarif(&locs), r.to_sarif(&Default::default()), Report::default().to_sarif(&Default::default())] {
        let errs = super::sarif_schema::validate_sarif(&log);
        assert!(errs.is_empty(), "{errs:#?}");
    }
    let log = r.to_sarif(&locs);
    // Cross-check with another validator: PROVISION_SARIF_OUT=/tmp/x.sarif cargo test --lib sarif_view,
    // then python3 -c 'import json,jsonschema; jsonschema.Draft4Validator(json.load(open("data/sarif-schema-2.1.0.json"))).validate(json.load(open("/tmp/x.sarif")))'
    if let Ok(path) = std::env::var("PROVISION_SARIF_OUT") {
        std::fs::write(path, serde_json::to_string_pretty(&log).unwrap()).unwrap();
    }
    let run = &log["runs"][0];
    let rules_json = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules_json.len(), HopKind::ALL.len() + rules().len());
    let results = run["results"].as_array().unwrap();
    let push = results.iter().find(|x| x["ruleId"] == "hop/ecr-push").unwrap();
    assert_eq!(push["level"], "error");
    assert_eq!(rules_json[push["ruleIndex"].as_u64().unwrap() as usize]["id"], "hop/ecr-push");
    assert_eq!(push["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "stacks/eks-devops.yaml");
    assert_eq!(push["locations"][0]["physicalLocation"]["region"]["startLine"], 73);
    assert_eq!(push["locations"][0]["logicalLocations"][0]["fullyQualifiedName"], "iam_role.build");
    let sup = results.iter().find(|x| x["ruleId"] == "system-masters").unwrap();
    assert_eq!(sup["suppressions"][0]["justification"], "as in the course");
    assert_eq!(sup["locations"][0]["physicalLocation"]["region"]["startLine"], 1);
    // Passing hops are not results.
    assert_eq!(results.iter().filter(|x| x["ruleId"].as_str().unwrap().starts_with("hop/")).count(), 2);
}

/// Offline the account id may be a placeholder: it is opaque text, and the chain still holds.
#[test]
fn a_placeholder_account_id_is_opaque_text() {
    let text =
        serde_json::to_string(&fixture::seed().iter().map(|r| json!({"a": r.address, "k": r.kind, "s": r.state, "t": r.attrs})).collect::<Vec<_>>()).unwrap();
    let text = text.replace("123456789012", "ACCOUNT_ID");
    let rs: Vec<Resource> = serde_json::from_str::<Vec<serde_json::Value>>(&text)
        .unwrap()
        .into_iter()
        .map(|v| Resource {
            address: v["a"].as_str().unwrap().into(),
            kind: v["k"].as_str().unwrap().into(),
            state: v["s"].clone(),
            attrs: serde_json::from_value(v["t"].clone()).unwrap(),
        })
        .collect();
    let ctx = Context { account_id: "ACCOUNT_ID".into(), partition: "aws".into(), region: "us-east-1".into() };
    let r = check(&rs, &ctx, &fixture::opts());
    assert!(not_passing(&r).is_empty(), "{:?}", not_passing(&r));
    assert_eq!(r.hops.len(), 17);
    assert!(r.findings.iter().any(|f| f.rule == "trust-account-root" && f.message.contains("arn:aws:iam::ACCOUNT_ID:root")));
}

/// ARNs not known yet (first plan): roles and projects are still found by name.
#[test]
fn unknown_arns_of_roles_and_projects_fall_back_to_their_names() {
    let mut rs = fixture::seed();
    for r in rs.iter_mut().filter(|r| r.kind == "iam_role" || r.kind == "codebuild_project") {
        r.attrs.insert("arn".into(), "(known after apply)".into());
    }
    assert!(not_passing(&run(&rs)).is_empty());
}
