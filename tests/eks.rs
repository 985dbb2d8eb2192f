//! EKS access for the deploy stage: the aws-auth role mapping (through the emulator's Kubernetes
//! double, reached by DescribeCluster + a minted token) and EKS access entries.

mod common;

use common::{Emulator, Project};
use serde_json::{json, Value};

const NODE_PREFIX: &str = "- groups:\n  - system:bootstrappers\n  - system:nodes\n  rolearn: arn:aws:iam::123456789012:role/eksctl-eksdemo1-nodegroup-NodeInstanceRole-1A2B3C\n  username: system:node:{{EC2PrivateDNSName}}\n";

fn auth_stack(role: &str, groups: &str) -> String {
    format!("stack: eks\nresources:\n  eks_aws_auth_role.kubectl:\n    cluster: eksdemo1\n    role_arn: {role}\n    username: build\n    groups: {groups}\n")
}

fn aws_auth(emu: &Emulator) -> Value {
    emu.admin("GET", "kube/kube-system/configmaps/aws-auth", None)
}

fn map_roles(emu: &Emulator) -> String {
    aws_auth(emu)["data"]["mapRoles"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_auth_entry_lifecycle_keeps_other_entries_byte_for_byte() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let before = aws_auth(&emu);
    let p = Project::new(&auth_stack("arn:aws:iam::123456789012:role/ci/deploy/EksCodeBuildKubectlRole", "[system:masters]"));

    emu.provision(p.path(), &["plan", "--detailed-exitcode"])
        .code(2)
        .has("+ eks_aws_auth_role.kubectl (arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole) will be created")
        .has("cluster eksdemo1 authentication mode: API_AND_CONFIG_MAP");
    let r = emu.provision(p.path(), &["apply", "--auto-approve"]);
    r.ok().has("backup of kube-system/aws-auth (cluster eksdemo1) saved to .provision/backups/aws-auth-eksdemo1-");
    let backup = r.stdout.lines().find_map(|l| l.split(" saved to ").nth(1)).unwrap().trim().to_string();
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(p.path().join(&backup)).unwrap()).unwrap();
    assert_eq!(saved["data"], before["data"], "the backup holds the ConfigMap as it was");

    let after = map_roles(&emu);
    assert!(after.starts_with(NODE_PREFIX), "node entry intact:\n{after}");
    assert!(
        after.ends_with("- rolearn: arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole\n  username: build\n  groups:\n  - system:masters\n"),
        "role path stripped:\n{after}"
    );
    assert_eq!(aws_auth(&emu)["data"]["mapUsers"], before["data"]["mapUsers"]);
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.").has("authentication mode: API_AND_CONFIG_MAP");

    // A change of groups is shown as a YAML diff of our entry.
    p.write_stack(&auth_stack("arn:aws:iam::123456789012:role/ci/deploy/EksCodeBuildKubectlRole", "[deployers, viewers]"));
    emu.provision(p.path(), &["plan"]).ok().has("~ mapping:").has("-  - system:masters").has("+  - deployers").has("+  - viewers");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert!(map_roles(&emu).starts_with(NODE_PREFIX));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);

    // Destroy removes only our entry, never the ConfigMap.
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    let end = aws_auth(&emu);
    assert_eq!(end["data"], before["data"], "aws-auth is byte for byte what it was");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_concurrent_writer_is_not_lost() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let other = "- rolearn: arn:aws:iam::123456789012:role/other\n  username: other\n  groups:\n  - other\n";
    let p = Project::new(&auth_stack("arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole", "[system:masters]"));
    // apply reads aws-auth twice: to plan, then to modify it. Right after the second read, someone
    // else appends an entry, so provision's write carries a stale resourceVersion and gets a 409.
    emu.admin("POST", "kube/interleave", Some(json!({"namespace": "kube-system", "name": "aws-auth", "skip_gets": 1, "map_roles_append": other})));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert_eq!(emu.admin("GET", "kube/writes", None)["conflicts"], 1, "the write met exactly one conflict and was redone");
    let roles = map_roles(&emu);
    assert!(roles.starts_with(NODE_PREFIX), "{roles}");
    assert!(roles.contains(other), "the other writer's entry survived:\n{roles}");
    assert!(roles.contains("role/EksCodeBuildKubectlRole"), "ours is there too:\n{roles}");
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_map_roles_is_never_written() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    emu.admin("PUT", "kube/kube-system/configmaps/aws-auth", Some(json!({"data": {"mapRoles": "- rolearn: [broken\n  username: x\n"}})));
    let rv = aws_auth(&emu)["metadata"]["resourceVersion"].clone();
    let p = Project::new(&auth_stack("arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole", "[system:masters]"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1).has("cannot be parsed").has("refusing to write it").has("help:");
    assert_eq!(aws_auth(&emu)["metadata"]["resourceVersion"], rv, "no write happened");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_entry_that_is_not_ours_is_left_alone() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let hand = format!("{NODE_PREFIX}- rolearn: arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole\n  username: admin\n  groups:\n  - system:masters\n");
    emu.admin("PUT", "kube/kube-system/configmaps/aws-auth", Some(json!({"data": {"mapRoles": hand, "mapUsers": "[]\n"}})));
    let p = Project::new(&auth_stack("arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole", "[system:masters]"));
    emu.provision(p.path(), &["plan"]).ok().has("exists but is not this stack's");
    emu.provision(p.path(), &["apply", "--auto-approve"]).code(1);
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert_eq!(map_roles(&emu), hand);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kubernetes_double_accepts_fresh_tokens_and_rejects_expired_ones() {
    use std::time::{Duration, SystemTime};
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth"]);
    let conf = emu.sdk_config().await;
    let cluster = aws_sdk_eks::Client::new(&conf).describe_cluster().name("eksdemo1").send().await.unwrap().cluster.unwrap();
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.decode(cluster.certificate_authority().unwrap().data().unwrap()).unwrap();
    let der: Vec<Vec<u8>> = String::from_utf8(ca)
        .unwrap()
        .split("-----")
        .filter(|s| s.len() > 100)
        .map(|b64| base64::engine::general_purpose::STANDARD.decode(b64.replace(['\n', '\r'], "")).unwrap())
        .collect();
    let creds = aws_credential_types::Credentials::new("testing", "testing", None, None, "t");
    let get = |at: SystemTime| {
        let token = provision::kube::token::presign(&creds, &emu.url, "us-east-1", "eksdemo1", at).unwrap();
        let mut config = kube::Config::new(cluster.endpoint().unwrap().parse().unwrap());
        config.root_cert = Some(der.clone());
        config.auth_info.token = Some(secrecy::SecretString::from(token));
        async move {
            let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(kube::Client::try_from(config).unwrap(), "kube-system");
            api.get("aws-auth").await
        }
    };
    assert!(get(SystemTime::now()).await.is_ok(), "a fresh token is accepted over TLS with the cluster's CA");
    match get(SystemTime::now() - Duration::from_secs(600)).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 401),
        other => panic!("an expired token must be rejected with 401, got {other:?}"),
    }
}

fn entry_stack(groups: &str, scope: &str) -> String {
    format!(
        "stack: eks\nresources:\n  eks_access_entry.kubectl:\n    cluster: eksdemo1\n    principal_arn: arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole\n    kubernetes_groups: {groups}\n    access_policies:\n      - policy: AmazonEKSEditPolicy\n        scope: {scope}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn access_entry_lifecycle() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1"]);
    let eks = aws_sdk_eks::Client::new(&emu.sdk_config().await);
    let principal = "arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole";
    let p = Project::new(&entry_stack("[deployers]", "{ type: namespace, namespaces: [default] }"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    let e = eks.describe_access_entry().cluster_name("eksdemo1").principal_arn(principal).send().await.unwrap().access_entry.unwrap();
    assert_eq!(e.kubernetes_groups(), ["deployers".to_string()]);
    assert_eq!(e.tags().unwrap().get("provision:stack").map(String::as_str), Some("eks"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0).has("No changes.");

    p.write_stack(&entry_stack("[deployers, viewers]", "{ type: cluster }"));
    emu.provision(p.path(), &["plan"])
        .ok()
        .has("~ kubernetes_groups:")
        .has("access_policies.arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy.scope.type: \"namespace\" -> \"cluster\"");
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
    let pol = eks.list_associated_access_policies().cluster_name("eksdemo1").principal_arn(principal).send().await.unwrap();
    assert_eq!(pol.associated_access_policies()[0].access_scope().unwrap().r#type().unwrap().as_str(), "cluster");

    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert!(eks.describe_access_entry().cluster_name("eksdemo1").principal_arn(principal).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn access_entries_refuse_system_groups_and_config_map_clusters() {
    let p = Project::new(&entry_stack("[system:masters]", "{ type: cluster }"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision")).current_dir(p.path()).arg("validate").env("NO_COLOR", "1").output().unwrap();
    common::Run::from(out).code(1).has("group `system:masters` starts with `system:`").has("--> stacks/test.yaml:6:25").has("access_policies");

    let emu = Emulator::start_with(&["--cluster", "eksdemo1:CONFIG_MAP"]);
    let p = Project::new(&entry_stack("[deployers]", "{ type: cluster }"));
    emu.reset_calls();
    emu.provision(p.path(), &["plan"]).code(1).has("uses authentication mode CONFIG_MAP").has("help:");
    assert!(emu.write_calls().is_empty());
}

#[test]
fn the_access_entry_stack_validates() {
    let root = common::repo_root();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provision"))
        .current_dir(&root)
        .args(["validate", "-s", "examples/eks-devops-access-entries.yaml"])
        .output()
        .unwrap();
    common::Run::from(out).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_aws_auth_is_created() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1"]);
    let p = Project::new(&auth_stack("arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole", "[system:masters]"));
    emu.provision(p.path(), &["apply", "--auto-approve"]).ok();
    assert!(map_roles(&emu).starts_with("- rolearn: arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole\n"));
    emu.provision(p.path(), &["plan", "--detailed-exitcode"]).code(0);
    emu.provision(p.path(), &["destroy", "--auto-approve"]).ok();
    assert_eq!(map_roles(&emu), "", "the entry is gone, the ConfigMap stays");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubeconfig_context_can_be_used_instead() {
    let emu = Emulator::start_with(&["--cluster", "eksdemo1", "--seed-aws-auth", "--kube-token", "static-admin-token"]);
    let conf = emu.sdk_config().await;
    let cluster = aws_sdk_eks::Client::new(&conf).describe_cluster().name("eksdemo1").send().await.unwrap().cluster.unwrap();
    let p = Project::new(&format!(
        "{}    kubeconfig_context: admin@emulated\n",
        auth_stack("arn:aws:iam::123456789012:role/EksCodeBuildKubectlRole", "[system:masters]")
    ));
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: emulated\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    token: static-admin-token\ncontexts:\n- name: admin@emulated\n  context: {{cluster: emulated, user: admin}}\ncurrent-context: admin@emulated\n",
        cluster.endpoint().unwrap(),
        cluster.certificate_authority().unwrap().data().unwrap()
    );
    p.write("kubeconfig", &kubeconfig);
    let kc = p.path().join("kubeconfig");
    emu.provision_with_env(p.path(), &["apply", "--auto-approve"], &[("KUBECONFIG", kc.to_str().unwrap())]).ok();
    assert!(map_roles(&emu).contains("role/EksCodeBuildKubectlRole"));
}
