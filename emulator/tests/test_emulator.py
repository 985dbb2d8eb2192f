"""The emulator's own extensions, checked with boto3 (an independent AWS client)."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import boto3
import botocore
import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def emu():
    t = time.time()
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "run.py"), "--port", "0", "--cluster", "eksdemo1",
                          "--cluster", "legacy:CONFIG_MAP", "--seed-aws-auth"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert line.startswith("PROVISION_EMULATOR_READY "), line
    assert time.time() - t < 10
    yield line.split()[1]
    p.terminate()
    p.wait(5)


def client(emu, service):
    return boto3.client(service, endpoint_url=emu, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def admin(emu, method, path, body=None):
    req = urllib.request.Request(f"{emu}/_emulator/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def test_connections_are_created_pending_and_tagged(emu):
    cs = client(emu, "codestar-connections")
    arn = cs.create_connection(ProviderType="GitHub", ConnectionName="c1",
                               Tags=[{"Key": "provision:stack", "Value": "s"}])["ConnectionArn"]
    assert arn.startswith("arn:aws:codestar-connections:us-east-1:123456789012:connection/")
    assert cs.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == "PENDING"
    admin(emu, "POST", f"connections/{urllib.parse.quote(arn, safe='')}/status", {"status": "AVAILABLE"})
    assert cs.get_connection(ConnectionArn=arn)["Connection"]["ConnectionStatus"] == "AVAILABLE"
    assert cs.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "provision:stack", "Value": "s"}]
    cs.delete_connection(ConnectionArn=arn)
    with pytest.raises(cs.exceptions.ResourceNotFoundException):
        cs.get_connection(ConnectionArn=arn)


def test_codebuild_update_project_and_role_check(emu):
    iam, cb = client(emu, "iam"), client(emu, "codebuild")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": ["codebuild.amazonaws.com"]}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="cb", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    common = dict(source={"type": "CODEPIPELINE", "buildspec": "b.yml"}, artifacts={"type": "CODEPIPELINE"},
                  environment={"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"})
    with pytest.raises(cb.exceptions.InvalidInputException, match="not authorized to perform: sts:AssumeRole"):
        cb.create_project(name="proj", serviceRole="arn:aws:iam::123456789012:role/missing", **common)
    cb.create_project(name="proj", serviceRole=role, **common)
    cb.update_project(name="proj", description="new", environment=dict(common["environment"], privilegedMode=True))
    p = cb.batch_get_projects(names=["proj", "nope"])
    assert p["projects"][0]["description"] == "new"
    assert p["projects"][0]["environment"]["privilegedMode"] is True
    assert p["projectsNotFound"] == ["nope"]
    with pytest.raises(cb.exceptions.ResourceNotFoundException):
        cb.update_project(name="nope", description="x")


def test_faults_latency_and_call_counts(emu):
    ecr = client(emu, "ecr")
    admin(emu, "DELETE", "calls")
    admin(emu, "POST", "faults", {"service": "ecr", "operation": "DescribeRepositories", "kind": "throttle", "count": 1})
    with pytest.raises(botocore.exceptions.ClientError, match="ThrottlingException"):
        ecr.describe_repositories()
    ecr.describe_repositories()
    admin(emu, "POST", "latency", {"ms": 200})
    t = time.time()
    ecr.describe_repositories()
    assert time.time() - t >= 0.2
    admin(emu, "POST", "latency", {"ms": 0})
    assert admin(emu, "GET", "calls")["by_operation"]["ecr.DescribeRepositories"] == 3


def test_sns_email_subscriptions_stay_pending(emu):
    sns = client(emu, "sns")
    arn = sns.create_topic(Name="t")["TopicArn"]
    assert sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="a@b.c")["SubscriptionArn"] == "pending confirmation"
    subs = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert subs[0]["SubscriptionArn"] == "PendingConfirmation"
    admin(emu, "POST", "sns/confirm", {"topic_arn": arn, "endpoint": "a@b.c"})
    assert sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"][0]["SubscriptionArn"].startswith(arn)


def test_eks_clusters_and_access_entries(emu):
    eks = client(emu, "eks")
    c = eks.describe_cluster(name="eksdemo1")["cluster"]
    assert c["endpoint"].startswith("https://127.0.0.1:")
    assert c["accessConfig"]["authenticationMode"] == "API_AND_CONFIG_MAP"
    assert b"BEGIN CERTIFICATE" in __import__("base64").b64decode(c["certificateAuthority"]["data"])
    principal = "arn:aws:iam::123456789012:role/r"
    with pytest.raises(eks.exceptions.InvalidParameterException, match="system:"):
        eks.create_access_entry(clusterName="eksdemo1", principalArn=principal, kubernetesGroups=["system:masters"])
    e = eks.create_access_entry(clusterName="eksdemo1", principalArn=principal, kubernetesGroups=["g"], tags={"k": "v"})
    assert e["accessEntry"]["kubernetesGroups"] == ["g"]
    eks.associate_access_policy(clusterName="eksdemo1", principalArn=principal,
                                policyArn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy",
                                accessScope={"type": "namespace", "namespaces": ["default"]})
    pols = eks.list_associated_access_policies(clusterName="eksdemo1", principalArn=principal)["associatedAccessPolicies"]
    assert pols[0]["accessScope"] == {"type": "namespace", "namespaces": ["default"]}
    eks.update_access_entry(clusterName="eksdemo1", principalArn=principal, kubernetesGroups=["h"])
    assert eks.describe_access_entry(clusterName="eksdemo1", principalArn=principal)["accessEntry"]["kubernetesGroups"] == ["h"]
    eks.delete_access_entry(clusterName="eksdemo1", principalArn=principal)
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_access_entry(clusterName="eksdemo1", principalArn=principal)
    with pytest.raises(botocore.exceptions.ClientError, match="authentication mode"):
        eks.create_access_entry(clusterName="legacy", principalArn=principal)


def test_kube_double_semantics():
    sys.path.insert(0, HERE)
    from kube import Store, check_token, TokenError
    s = Store()
    code, cm = s.create("kube-system", {"metadata": {"name": "aws-auth"}, "data": {"mapRoles": ""}})
    assert code == 201
    assert s.create("kube-system", {"metadata": {"name": "aws-auth"}})[1]["reason"] == "AlreadyExists"
    stale = dict(cm)
    code, new = s.replace("kube-system", "aws-auth", cm)
    assert code == 200 and new["metadata"]["resourceVersion"] != cm["metadata"]["resourceVersion"]
    code, body = s.replace("kube-system", "aws-auth", stale)
    assert code == 409 and body["reason"] == "Conflict"
    assert s.replace("kube-system", "missing", cm)[0] == 404
    with pytest.raises(TokenError):
        check_token("Bearer nonsense", {})
    with pytest.raises(TokenError):
        check_token(None, {})
