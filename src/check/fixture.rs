//! The seed stack (stacks/eks-devops.yaml with policies/*.json) resolved the way the engine
//! resolves it, for account 123456789012 in us-east-1 with a known connection ARN.

use super::{AuthMode, Context, Options, Resource};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const ACCOUNT: &str = "123456789012";
pub const CONNECTION: &str = "arn:aws:codestar-connections:us-east-1:123456789012:connection/6f4e1a2b-9c3d-4e5f-8a7b-1c2d3e4f5a6b";
pub const BUCKET: &str = "eks-devops-artifacts-123456789012-us-east-1";
pub const KUBECTL_ROLE: &str = "arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole";
pub const BUILD_ROLE: &str = "arn:aws:iam::123456789012:role/buildphase-codebuild-eks-devops-service-role";
pub const DEPLOY_ROLE: &str = "arn:aws:iam::123456789012:role/deployphase-codebuild-eks-devops-service-role";
pub const PIPELINE_ROLE: &str = "arn:aws:iam::123456789012:role/eks-devops-codepipeline-service-role";
pub const STS_POLICY: &str = "arn:aws:iam::123456789012:policy/eks-codebuild-sts-assume-role";
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:eks-devops-topic1";
pub const REPO_URI: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/eks-devops";

pub fn ctx() -> Context {
    Context { account_id: ACCOUNT.into(), partition: "aws".into(), region: "us-east-1".into() }
}

/// Options with the cluster's authentication mode known (API_AND_CONFIG_MAP, the EKS default).
pub fn opts() -> Options {
    let mut o = Options::default();
    o.auth_modes.insert("eksdemo1".into(), AuthMode::ApiAndConfigMap);
    o
}

/// A policy file with its `${...}` references resolved.
fn policy(text: &str, connection: &str) -> Value {
    let resolved = text
        .replace("${region}", "us-east-1")
        .replace("${account_id}", ACCOUNT)
        .replace("${s3_bucket.artifacts.arn}", &format!("arn:aws:s3:::{BUCKET}"))
        .replace("${codestar_connection.github.arn}", connection)
        .replace("${sns_topic.approval.arn}", TOPIC)
        .replace("${iam_role.kubectl.arn}", KUBECTL_ROLE);
    assert!(!resolved.contains("${"), "unresolved reference in {resolved}");
    serde_json::from_str(&resolved).unwrap()
}

fn res(address: &str, state: Value, attrs: &[(&str, &str)]) -> Resource {
    let kind = address.split('.').next().unwrap().to_string();
    let mut a: BTreeMap<String, String> = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some(n) = state.get("name").and_then(Value::as_str) {
        a.insert("name".into(), n.into());
    }
    Resource { address: address.into(), kind, state, attrs: a }
}

fn action(name: &str, category: &str, provider: &str, configuration: Value, inputs: &[&str], outputs: &[&str]) -> Value {
    json!({
        "name": name, "category": category, "owner": "AWS", "provider": provider, "version": "1",
        "run_order": 1, "configuration": configuration, "input_artifacts": inputs, "output_artifacts": outputs,
    })
}

/// The seed stack with the connection's ARN known.
pub fn seed() -> Vec<Resource> {
    seed_with_connection(CONNECTION)
}

/// The seed stack; `connection` may be `(known after apply)`.
pub fn seed_with_connection(connection: &str) -> Vec<Resource> {
    let p = |t: &str| policy(t, connection);
    let codebuild_trust = p(include_str!("../../policies/codebuild-trust.json"));
    let env = |vars: Value, privileged: bool| {
        json!({"image": "aws/codebuild/amazonlinux-x86_64-standard:5.0", "compute_type": "BUILD_GENERAL1_SMALL",
               "type": "LINUX_CONTAINER", "privileged_mode": privileged, "variables": vars})
    };
    vec![
        res(
            "ecr_repository.app",
            json!({"name": "eks-devops", "image_tag_mutability": "IMMUTABLE", "scan_on_push": true, "force_destroy": false}),
            &[("arn", "arn:aws:ecr:us-east-1:123456789012:repository/eks-devops"), ("uri", REPO_URI), ("registry_id", ACCOUNT)],
        ),
        res(
            "s3_bucket.artifacts",
            json!({"name": BUCKET, "encryption": "AES256", "block_public_access": true, "force_destroy": true}),
            &[("arn", &format!("arn:aws:s3:::{BUCKET}"))],
        ),
        res("codestar_connection.github", json!({"name": "eks-devops-github-connection", "provider_type": "GitHub"}), &[("arn", connection)]),
        res(
            "sns_topic.approval",
            json!({"name": "eks-devops-topic1", "display_name": "eks-devops-topic1",
                   "subscriptions": [{"protocol": "email", "endpoint": "stacksimplify@gmail.com"}]}),
            &[("arn", TOPIC)],
        ),
        res(
            "iam_role.kubectl",
            json!({"name": "EksCodeBuildKubectlRole", "path": "/",
                   "description": "Assumed by the deploy stage to run kubectl against the EKS cluster",
                   "trust_policy": p(include_str!("../../policies/kubectl-role-trust.json")),
                   "inline_policies": {"eks-describe": p(include_str!("../../policies/eks-describe.json"))},
                   "managed_policies": []}),
            &[("arn", KUBECTL_ROLE)],
        ),
        res(
            "iam_policy.sts_assume_kubectl",
            json!({"name": "eks-codebuild-sts-assume-role", "path": "/",
                   "description": "CodeBuild to interact with EKS cluster to perform changes",
                   "document": p(include_str!("../../policies/sts-assume-kubectl-role.json"))}),
            &[("arn", STS_POLICY)],
        ),
        res(
            "iam_role.pipeline",
            json!({"name": "eks-devops-codepipeline-service-role", "path": "/",
                   "trust_policy": p(include_str!("../../policies/codepipeline-trust.json")),
                   "inline_policies": {"codepipeline-base": p(include_str!("../../policies/codepipeline-service.json"))},
                   "managed_policies": ["arn:aws:iam::aws:policy/AWSCodeBuildAdminAccess"]}),
            &[("arn", PIPELINE_ROLE)],
        ),
        res(
            "iam_role.build",
            json!({"name": "buildphase-codebuild-eks-devops-service-role", "path": "/",
                   "trust_policy": codebuild_trust,
                   "inline_policies": {"codebuild-base": p(include_str!("../../policies/codebuild-build.json"))},
                   "managed_policies": ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryFullAccess",
                                        "arn:aws:iam::aws:policy/CloudWatchLogsFullAccess"]}),
            &[("arn", BUILD_ROLE)],
        ),
        res(
            "iam_role.deploy",
            json!({"name": "deployphase-codebuild-eks-devops-service-role", "path": "/",
                   "trust_policy": codebuild_trust,
                   "inline_policies": {"codebuild-base": p(include_str!("../../policies/codebuild-deploy.json"))},
                   "managed_policies": [STS_POLICY]}),
            &[("arn", DEPLOY_ROLE)],
        ),
        res(
            "codebuild_project.build",
            json!({"name": "build-eks-devops", "description": "Build the image and push it to ECR",
                   "service_role": BUILD_ROLE, "buildspec": "buildspec-build.yml",
                   "environment": env(json!({"IMAGE_URI": {"value": REPO_URI, "type": "PLAINTEXT"}}), true),
                   "logs": {"group_name": "buildphase-cb-eks-deveops-group", "stream_name": "buildphase-cb-eks-deveops-stream"}}),
            &[("arn", "arn:aws:codebuild:us-east-1:123456789012:project/build-eks-devops")],
        ),
        res(
            "codebuild_project.deploy",
            json!({"name": "deploy-eks-devops", "description": "Deploy the image to EKS with kubectl",
                   "service_role": DEPLOY_ROLE, "buildspec": "buildspec-deploy.yml",
                   "environment": env(json!({
                       "EKS_CLUSTER_NAME": {"value": "eksdemo1", "type": "PLAINTEXT"},
                       "EKS_KUBECTL_ROLE_ARN": {"value": KUBECTL_ROLE, "type": "PLAINTEXT"}}), false),
                   "logs": {"group_name": "deployphase-cb-eks-deveops-group", "stream_name": "deployphase-cb-eks-deveops-stream"}}),
            &[("arn", "arn:aws:codebuild:us-east-1:123456789012:project/deploy-eks-devops")],
        ),
        res(
            "codepipeline.main",
            json!({"name": "eks-devops", "pipeline_type": "V2", "execution_mode": "QUEUED",
            "role_arn": PIPELINE_ROLE, "artifact_bucket": BUCKET,
            "stages": [
                {"name": "Source", "actions": [action("Source", "Source", "CodeStarSourceConnection",
                    json!({"ConnectionArn": connection, "FullRepositoryId": "stacksimplify/aws-eks-devops",
                           "BranchName": "main", "OutputArtifactFormat": "CODE_ZIP"}), &[], &["SourceArtifact"])]},
                {"name": "Build", "actions": [action("Build", "Build", "CodeBuild",
                    json!({"ProjectName": "build-eks-devops"}), &["SourceArtifact"], &["BuildArtifact"])]},
                {"name": "DeploymentApproval", "actions": [action("DeploymentApproval", "Approval", "Manual",
                    json!({"NotificationArn": TOPIC}), &[], &[])]},
                {"name": "Deploy", "actions": [action("DeployToEKS", "Build", "CodeBuild",
                    json!({"ProjectName": "deploy-eks-devops"}), &["BuildArtifact"], &[])]},
            ]}),
            &[("arn", "arn:aws:codepipeline:us-east-1:123456789012:eks-devops")],
        ),
        res("eks_aws_auth_role.kubectl", json!({"cluster": "eksdemo1", "role_arn": KUBECTL_ROLE, "username": "build", "groups": ["system:masters"]}), &[]),
    ]
}

/// The resource at `address`.
pub fn get<'a>(rs: &'a mut [Resource], address: &str) -> &'a mut Resource {
    rs.iter_mut().find(|r| r.address == address).unwrap_or_else(|| panic!("no {address}"))
}

/// Detach a managed policy from a role.
pub fn detach(rs: &mut [Resource], role: &str, arn: &str) {
    let r = get(rs, role);
    let list = r.state["managed_policies"].as_array_mut().unwrap();
    let before = list.len();
    list.retain(|a| a != arn);
    assert_eq!(list.len() + 1, before, "{arn} was not attached to {role}");
}
