"""The emulator's own extensions, checked with boto3 (an independent AWS client)."""
import base64
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore
import pytest
import yaml

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def emu():
    t = time.time()
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "run.py"), "--port", "0", "--cluster", "eksdemo1",
                          "--cluster", "legacy:CONFIG_MAP", "--seed-aws-auth", "--kube-token", "static-admin-token"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert line.startswith("PROVISION_EMULATOR_READY "), line
    assert time.time() - t < 10
    yield line.split()[1]
    p.terminate()
    p.wait(5)


def client(emu, service, region="us-east-1", key="testing", secret="testing", token=None):
    return boto3.client(service, endpoint_url=emu, region_name=region,
                        aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
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
    assert b"BEGIN CERTIFICATE" in base64.b64decode(c["certificateAuthority"]["data"])
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
        check_token("Bearer nonsense")
    with pytest.raises(TokenError):
        check_token(None)


CB_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"},
                                                    "Action": "sts:AssumeRole"}]}
CB_COMMON = dict(source={"type": "NO_SOURCE", "buildspec": "b.yml"}, artifacts={"type": "NO_ARTIFACTS"},
                 environment={"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"})


def codebuild_role(emu, name, **kw):
    iam = client(emu, "iam", **kw)
    try:
        return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(CB_TRUST))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def test_own_services_keep_state_per_region(emu):
    role = codebuild_role(emu, "cb-regions")
    east, west = client(emu, "codebuild"), client(emu, "codebuild", "eu-west-1")
    arn = east.create_project(name="regional", serviceRole=role, **CB_COMMON)["project"]["arn"]
    assert arn == "arn:aws:codebuild:us-east-1:123456789012:project/regional"
    assert west.batch_get_projects(names=["regional"])["projectsNotFound"] == ["regional"]
    assert "regional" not in west.list_projects()["projects"]
    west.create_project(name="regional", serviceRole=role, **CB_COMMON)  # the same name, another region
    assert west.batch_get_projects(names=["regional"])["projects"][0]["arn"].startswith("arn:aws:codebuild:eu-west-1:")

    cs_east, cs_west = client(emu, "codestar-connections"), client(emu, "codestar-connections", "eu-west-1")
    conn = cs_east.create_connection(ProviderType="GitHub", ConnectionName="regional")["ConnectionArn"]
    with pytest.raises(cs_west.exceptions.ResourceNotFoundException):
        cs_west.get_connection(ConnectionArn=conn)
    assert conn not in [c["ConnectionArn"] for c in cs_west.list_connections()["Connections"]]

    admin(emu, "POST", "clusters", {"name": "westy", "region": "eu-west-1"})
    eks_east, eks_west = client(emu, "eks"), client(emu, "eks", "eu-west-1")
    assert eks_west.describe_cluster(name="westy")["cluster"]["arn"] == "arn:aws:eks:eu-west-1:123456789012:cluster/westy"
    assert "westy" in eks_west.list_clusters()["clusters"]
    assert "westy" not in eks_east.list_clusters()["clusters"]
    with pytest.raises(eks_east.exceptions.ResourceNotFoundException):
        eks_east.describe_cluster(name="westy")


def test_codebuild_batch_get_and_delete_by_arn(emu):
    role = codebuild_role(emu, "cb-arn")
    cb = client(emu, "codebuild")
    arn = cb.create_project(name="by-arn", serviceRole=role, **CB_COMMON)["project"]["arn"]
    got = cb.batch_get_projects(names=[arn, "by-arn", "arn:aws:codebuild:us-east-1:123456789012:project/none"])
    assert [p["arn"] for p in got["projects"]] == [arn, arn]
    assert got["projectsNotFound"] == ["arn:aws:codebuild:us-east-1:123456789012:project/none"]
    with pytest.raises(cb.exceptions.InvalidInputException):
        cb.batch_get_projects(names=[f"p{i}" for i in range(101)])
    assert len(cb.batch_get_projects(names=[f"p{i}" for i in range(100)])["projectsNotFound"]) == 100
    cb.delete_project(name=arn)  # as the Terraform provider does
    assert cb.batch_get_projects(names=["by-arn"])["projectsNotFound"] == ["by-arn"]
    assert "by-arn" not in cb.list_projects()["projects"]


def make_pipeline(emu, name, tags=(), **kw):
    iam, cp = client(emu, "iam", **kw), client(emu, "codepipeline", **kw)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": ["codepipeline.amazonaws.com"]}}]}
    try:
        role = iam.create_role(RoleName=f"cp-{name}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        role = iam.get_role(RoleName=f"cp-{name}")["Role"]["Arn"]
    stages = [
        {"name": "Source", "actions": [{"name": "S", "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3",
                                                                     "version": "1"},
                                        "configuration": {"S3Bucket": "b", "S3ObjectKey": "k"}, "outputArtifacts": [{"name": "src"}]}]},
        {"name": "Build", "actions": [{"name": "B", "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild",
                                                                    "version": "1"},
                                       "configuration": {"ProjectName": "p"}, "inputArtifacts": [{"name": "src"}]}]},
    ]
    return cp.create_pipeline(pipeline={"name": name, "roleArn": role, "artifactStore": {"type": "S3", "location": "artifact-bucket"},
                                        "stages": stages}, tags=[{"key": k, "value": v} for k, v in tags])


def test_tagging_get_resources_spans_moto_and_own_services(emu):
    region, stack = "ap-south-1", [{"Key": "stack", "Value": "tg"}]
    kw = {"region": region}
    ecr = client(emu, "ecr", **kw)
    repo = ecr.create_repository(repositoryName="tg-repo", tags=stack + [{"Key": "team", "Value": "a"}])["repository"]["repositoryArn"]
    ecr.create_repository(repositoryName="tg-untagged")
    s3 = client(emu, "s3", **kw)
    s3.create_bucket(Bucket="tg-bucket", CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_bucket_tagging(Bucket="tg-bucket", Tagging={"TagSet": stack + [{"Key": "team", "Value": "b"}]})
    client(emu, "s3").create_bucket(Bucket="tg-bucket-east")  # another region: never listed here
    client(emu, "s3").put_bucket_tagging(Bucket="tg-bucket-east", Tagging={"TagSet": stack})
    topic = client(emu, "sns", **kw).create_topic(Name="tg-topic", Tags=stack)["TopicArn"]
    pipeline = make_pipeline(emu, "tg-pipe", [("stack", "tg")], **kw)["pipeline"]["name"]
    rule = client(emu, "events", **kw).put_rule(Name="tg-rule", ScheduleExpression="rate(1 day)", Tags=stack)["RuleArn"]
    conn = client(emu, "codestar-connections", **kw).create_connection(
        ProviderType="GitHub", ConnectionName="tg", Tags=stack)["ConnectionArn"]
    project = client(emu, "codebuild", **kw).create_project(
        name="tg-project", serviceRole=codebuild_role(emu, "cb-tagging"), tags=[{"key": "stack", "value": "tg"}],
        **CB_COMMON)["project"]["arn"]
    admin(emu, "POST", "clusters", {"name": "tg-cluster", "region": region})
    eks = client(emu, "eks", **kw)
    cluster = eks.describe_cluster(name="tg-cluster")["cluster"]["arn"]
    eks.tag_resource(resourceArn=cluster, tags={"stack": "tg"})
    entry = eks.create_access_entry(clusterName="tg-cluster", principalArn="arn:aws:iam::123456789012:role/tg",
                                    tags={"stack": "tg", "team": "a"})["accessEntry"]["accessEntryArn"]
    client(emu, "iam").create_role(RoleName="tg-role", AssumeRolePolicyDocument=json.dumps(CB_TRUST), Tags=stack)
    client(emu, "ecr").create_repository(repositoryName="tg-east", tags=stack)

    tagging = client(emu, "resourcegroupstaggingapi", **kw)

    def arns(**params):
        out, token = [], None
        while True:
            page = tagging.get_resources(**params, **({"PaginationToken": token} if token else {}))
            out += [m["ResourceARN"] for m in page["ResourceTagMappingList"]]
            token = page["PaginationToken"]
            if token == "":
                return out

    pipeline_arn = f"arn:aws:codepipeline:{region}:123456789012:{pipeline}"
    every = {repo, "arn:aws:s3:::tg-bucket", topic, pipeline_arn, rule, conn, project, cluster, entry}
    assert set(arns(TagFilters=[{"Key": "stack", "Values": ["tg"]}])) == every
    assert set(arns(TagFilters=[{"Key": "stack", "Values": ["tg"]}], ResourcesPerPage=2)) == every
    assert set(arns(TagFilters=[{"Key": "stack"}, {"Key": "team", "Values": ["a", "b"]}])) == \
        {repo, "arn:aws:s3:::tg-bucket", entry}
    assert set(arns(TagFilters=[{"Key": "team", "Values": ["a"]}])) == {repo, entry}
    for kind, expected in [("ecr:repository", {repo}), ("s3", {"arn:aws:s3:::tg-bucket"}), ("s3:bucket", {"arn:aws:s3:::tg-bucket"}),
                           ("sns", {topic}), ("sns:topic", {topic}), ("codebuild:project", {project}),
                           ("codepipeline", {pipeline_arn}), ("codepipeline:pipeline", {pipeline_arn}),
                           ("codestar-connections:connection", {conn}), ("eks:cluster", {cluster}),
                           ("eks:access-entry", {entry}), ("events:rule", {rule}), ("eks", {cluster, entry}), ("iam", set())]:
        assert set(arns(ResourceTypeFilters=[kind], TagFilters=[{"Key": "stack"}])) == expected, kind
    first = tagging.get_resources(ResourcesPerPage=1, TagFilters=[{"Key": "stack"}])
    assert len(first["ResourceTagMappingList"]) == 1 and first["PaginationToken"]
    mapping = tagging.get_resources(ResourceARNList=[repo])["ResourceTagMappingList"]
    assert mapping == [{"ResourceARN": repo, "Tags": [{"Key": "stack", "Value": "tg"}, {"Key": "team", "Value": "a"}]}]
    paged = [m for page in tagging.get_paginator("get_resources").paginate(ResourcesPerPage=3)
             for m in page["ResourceTagMappingList"]]
    assert {m["ResourceARN"] for m in paged} == every
    for bad in [dict(ResourcesPerPage=0), dict(ResourcesPerPage=101), dict(ResourceARNList=[repo], TagFilters=[{"Key": "x"}]),
                dict(PaginationToken="garbage")]:
        with pytest.raises(tagging.exceptions.InvalidParameterException):
            tagging.get_resources(**bad)
    assert "team" in tagging.get_tag_keys()["TagKeys"]
    assert tagging.get_tag_values(Key="team")["TagValues"] == ["a", "b"]


def raw_bodies(c):
    """Capture the raw response bodies a client receives (to check wire encodings)."""
    seen = []
    c.meta.events.register("before-parse.*.*", lambda response_dict, **_: seen.append(response_dict["body"]))
    return seen


def test_iam_account_authorization_details(emu):
    admin(emu, "POST", "accounts", {"access_key_id": "AKIDIAMDETAILS", "account_id": "210987654321"})
    iam = client(emu, "iam", key="AKIDIAMDETAILS")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    iam.create_role(RoleName="detail", Path="/ci/", AssumeRolePolicyDocument=json.dumps(CB_TRUST), Description="d",
                    Tags=[{"Key": "stack", "Value": "s"}])
    iam.put_role_policy(RoleName="detail", PolicyName="inline", PolicyDocument=json.dumps(doc))
    local = iam.create_policy(PolicyName="local", PolicyDocument=json.dumps(doc), Description="mine",
                              Tags=[{"Key": "k", "Value": "v"}])["Policy"]
    iam.create_policy_version(PolicyArn=local["Arn"], PolicyDocument=json.dumps(doc), SetAsDefault=True)
    iam.attach_role_policy(RoleName="detail", PolicyArn=local["Arn"])
    iam.attach_role_policy(RoleName="detail", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess")
    iam.create_user(UserName="u")
    iam.create_group(GroupName="g")
    iam.add_user_to_group(UserName="u", GroupName="g")

    wire = raw_bodies(iam)
    roles = iam.get_account_authorization_details(Filter=["Role"])
    assert roles["UserDetailList"] == roles["GroupDetailList"] == roles["Policies"] == []
    (role,) = roles["RoleDetailList"]
    assert (role["Path"], role["RoleName"], role["Arn"]) == ("/ci/", "detail", "arn:aws:iam::210987654321:role/ci/detail")
    assert role["RoleId"].startswith("AROA") and role["CreateDate"]
    assert role["AssumeRolePolicyDocument"] == CB_TRUST
    assert b"<AssumeRolePolicyDocument>%7B%22Version%22" in wire[-1]
    assert role["RolePolicyList"] == [{"PolicyName": "inline", "PolicyDocument": doc}]
    assert b"<PolicyDocument>%7B" in wire[-1]
    assert {p["PolicyName"] for p in role["AttachedManagedPolicies"]} == {"local", "AmazonS3FullAccess"}
    assert role["Tags"] == [{"Key": "stack", "Value": "s"}]

    (policy,) = iam.get_account_authorization_details(Filter=["LocalManagedPolicy"])["Policies"]
    assert policy["PolicyName"] == "local" and policy["PolicyId"] == local["PolicyId"] and policy["Path"] == "/"
    assert (policy["DefaultVersionId"], policy["AttachmentCount"], policy["Description"]) == ("v2", 1, "mine")
    assert [(v["VersionId"], v["IsDefaultVersion"], v["Document"]) for v in policy["PolicyVersionList"]] == \
        [("v1", False, doc), ("v2", True, doc)]
    assert b"<Document>%7B" in wire[-1]
    aws = iam.get_account_authorization_details(Filter=["AWSManagedPolicy"])["Policies"]
    assert [p["PolicyName"] for p in aws] == ["AmazonS3FullAccess"]  # only AWS-managed policies in use

    users = iam.get_account_authorization_details(Filter=["User", "Group"])
    assert users["UserDetailList"][0]["GroupList"] == ["g"] and users["GroupDetailList"][0]["GroupName"] == "g"
    seen, marker = [], None
    while True:
        page = iam.get_account_authorization_details(MaxItems=1, **({"Marker": marker} if marker else {}))
        items = page["UserDetailList"] + page["GroupDetailList"] + page["RoleDetailList"] + page["Policies"]
        assert len(items) == 1
        seen.append(items[0].get("UserName") or items[0].get("GroupName") or items[0].get("RoleName") or items[0]["PolicyName"])
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    assert seen[:3] == ["u", "g", "detail"] and sorted(seen[3:]) == ["AmazonS3FullAccess", "local"]

    got = iam.get_role(RoleName="detail")["Role"]
    assert (got["Description"], got["MaxSessionDuration"], got["Tags"]) == ("d", 3600, [{"Key": "stack", "Value": "s"}])
    assert iam.list_policy_tags(PolicyArn=local["Arn"])["Tags"] == [{"Key": "k", "Value": "v"}]
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.list_policy_tags(PolicyArn="arn:aws:iam::210987654321:policy/none")


def test_s3_create_bucket_with_tags(emu):
    s3 = client(emu, "s3")
    sent = []
    s3.meta.events.register("before-send.s3.CreateBucket", lambda request, **_: sent.append(request.body))
    s3.create_bucket(Bucket="tagged-east", CreateBucketConfiguration={"Tags": [{"Key": "stack", "Value": "s"}]})
    assert b"<CreateBucketConfiguration" in sent[0] and b"<Tags><Tag><Key>stack</Key><Value>s</Value></Tag></Tags>" in sent[0]
    assert s3.get_bucket_tagging(Bucket="tagged-east")["TagSet"] == [{"Key": "stack", "Value": "s"}]
    assert s3.get_bucket_location(Bucket="tagged-east")["LocationConstraint"] is None
    west = client(emu, "s3", "eu-west-1")
    west.create_bucket(Bucket="tagged-west", CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})
    assert west.get_bucket_tagging(Bucket="tagged-west")["TagSet"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert west.get_bucket_location(Bucket="tagged-west")["LocationConstraint"] == "eu-west-1"
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidTag"):
        s3.create_bucket(Bucket="tagged-bad", CreateBucketConfiguration={"Tags": [{"Key": "aws:x", "Value": "s"}]})
    with pytest.raises(botocore.exceptions.ClientError, match="404"):
        s3.head_bucket(Bucket="tagged-bad")
    s3.create_bucket(Bucket="untagged")
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket="untagged")


def test_s3_recreated_bucket_starts_without_the_old_tags(emu):
    s3 = client(emu, "s3")
    s3.create_bucket(Bucket="reborn", CreateBucketConfiguration={"Tags": [{"Key": "stack", "Value": "old"}]})
    s3.put_bucket_tagging(Bucket="reborn", Tagging={"TagSet": [{"Key": "stack", "Value": "older"}]})
    s3.delete_bucket(Bucket="reborn")
    s3.create_bucket(Bucket="reborn")
    with pytest.raises(botocore.exceptions.ClientError, match="NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket="reborn")
    s3.delete_bucket(Bucket="reborn")
    s3.create_bucket(Bucket="reborn", CreateBucketConfiguration={"Tags": [{"Key": "stack", "Value": "new"}]})
    assert s3.get_bucket_tagging(Bucket="reborn")["TagSet"] == [{"Key": "stack", "Value": "new"}]


def test_ecr_describe_repositories_pages_and_rejects_missing_names(emu):
    ecr = client(emu, "ecr", "sa-east-1")
    names = [f"page-{i}" for i in range(5)]
    for n in names:
        ecr.create_repository(repositoryName=n)
    with pytest.raises(ecr.exceptions.RepositoryNotFoundException):
        ecr.describe_repositories(repositoryNames=["page-0", "missing"])
    assert [r["repositoryName"] for r in ecr.describe_repositories(repositoryNames=["page-1"])["repositories"]] == ["page-1"]
    first = ecr.describe_repositories(maxResults=2)
    assert len(first["repositories"]) == 2 and first["nextToken"]
    seen = [r["repositoryName"] for page in ecr.get_paginator("describe_repositories").paginate(PaginationConfig={"PageSize": 2})
            for r in page["repositories"]]
    assert sorted(seen) == names
    last = ecr.describe_repositories(maxResults=5)
    assert len(last["repositories"]) == 5 and "nextToken" not in last
    with pytest.raises(ecr.exceptions.InvalidParameterException):
        ecr.describe_repositories(repositoryNames=["page-1"], maxResults=1)


def test_codepipeline_duplicate_create_is_name_in_use(emu):
    cp = client(emu, "codepipeline", "us-west-1")
    make_pipeline(emu, "twice", [("stack", "first")], region="us-west-1")
    with pytest.raises(cp.exceptions.PipelineNameInUseException):
        make_pipeline(emu, "twice", [("stack", "second")], region="us-west-1")
    arn = cp.get_pipeline(name="twice")["metadata"]["pipelineArn"]
    assert cp.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "stack", "value": "first"}]
    cp.delete_pipeline(name="twice")
    make_pipeline(emu, "twice", region="us-west-1")


def test_codepipeline_timestamps_are_epoch_numbers(emu):
    cp = client(emu, "codepipeline", "eu-central-1")
    wire = raw_bodies(cp)
    make_pipeline(emu, "epoch", [("stack", "e")], region="eu-central-1")
    meta = cp.get_pipeline(name="epoch")["metadata"]
    raw = json.loads(wire[-1])["metadata"]
    assert isinstance(raw["created"], (int, float)) and isinstance(raw["updated"], (int, float))
    assert abs(meta["created"].timestamp() - time.time()) < 60
    cp.list_pipelines()
    listed = json.loads(wire[-1])["pipelines"][0]
    assert isinstance(listed["created"], (int, float)) and isinstance(listed["updated"], (int, float))
    pipeline = cp.get_pipeline(name="epoch")["pipeline"]
    time.sleep(0.01)
    cp.update_pipeline(pipeline=dict(pipeline, version=1))
    assert json.loads(wire[-1])["pipeline"]["version"] == 2
    cp.get_pipeline(name="epoch")
    raw = json.loads(wire[-1])["metadata"]
    assert raw["updated"] > raw["created"]
    execution = cp.start_pipeline_execution(name="epoch")["pipelineExecutionId"]
    cp.list_pipeline_executions(pipelineName="epoch")
    summary = json.loads(wire[-1])["pipelineExecutionSummaries"][0]
    assert summary["pipelineExecutionId"] == execution and isinstance(summary["startTime"], (int, float))
    arn = "arn:aws:codepipeline:eu-central-1:123456789012:epoch"
    cp.tag_resource(resourceArn=arn, tags=[{"key": "k", "value": "v"}])
    assert wire[-1] == b"{}"
    assert {"key": "k", "value": "v"} in cp.list_tags_for_resource(resourceArn=arn)["tags"]
    cp.delete_pipeline(name="epoch")
    assert wire[-1] == b"{}"


def eks_token(cluster, region="us-east-1"):
    """A `k8s-aws-v1.` bearer token as `aws eks get-token` makes it: a presigned STS
    GetCallerIdentity URL that signs the x-k8s-aws-id header."""
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
    signer = botocore.signers.RequestSigner(botocore.model.ServiceId("sts"), region, "sts", "v4",
                                            session.get_credentials(), session.events)
    url = signer.generate_presigned_url(
        {"method": "GET", "url": f"https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
         "body": {}, "headers": {"x-k8s-aws-id": cluster}, "context": {}},
        region_name=region, expires_in=60, operation_name="")
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_reads_aws_auth(emu, tmp_path):
    cluster = client(emu, "eks").describe_cluster(name="eksdemo1")["cluster"]

    def kubectl(token, *args):
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "emulated",
                  "clusters": [{"name": "eksdemo1", "cluster": {"server": cluster["endpoint"],
                                "certificate-authority-data": cluster["certificateAuthority"]["data"]}}],
                  "users": [{"name": "u", "user": {"token": token}}],
                  "contexts": [{"name": "emulated", "context": {"cluster": "eksdemo1", "user": "u"}}]}
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
        return subprocess.run(["kubectl", "--kubeconfig", str(tmp_path / "kubeconfig"), "--cache-dir",
                               str(tmp_path / "cache"), *args], capture_output=True, text=True, timeout=120)

    for token in ("static-admin-token", eks_token("eksdemo1")):
        out = kubectl(token, "get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml")
        assert out.returncode == 0, out.stderr
        cm = yaml.safe_load(out.stdout)
        assert (cm["kind"], cm["metadata"]["name"], cm["metadata"]["namespace"]) == ("ConfigMap", "aws-auth", "kube-system")
        assert "system:nodes" in cm["data"]["mapRoles"] and cm["metadata"]["resourceVersion"]
    out = kubectl("static-admin-token", "get", "configmaps", "-n", "kube-system")
    assert out.returncode == 0 and out.stdout.split("\n")[0].split() == ["NAME", "DATA", "AGE"], out.stderr
    assert out.stdout.split("\n")[1].split()[:2] == ["aws-auth", "2"]
    out = kubectl("static-admin-token", "get", "configmap", "nope", "-n", "kube-system")
    assert out.returncode == 1 and 'configmaps "nope" not found' in out.stderr
    out = kubectl("static-admin-token", "version", "-o", "json")
    assert json.loads(out.stdout)["serverVersion"]["minor"] == "32"
    out = kubectl("not-a-token", "get", "configmap", "aws-auth", "-n", "kube-system")
    assert out.returncode != 0 and "Unauthorized" in out.stderr + out.stdout


def trust(principal, condition=None):
    stmt = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [dict(stmt, Condition=condition) if condition else stmt]})


def creds_of(resp):
    c = resp["Credentials"]
    return {"key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}


def test_sts_assume_role_enforces_trust_policies(emu):
    iam, sts = client(emu, "iam"), client(emu, "sts")
    me = sts.get_caller_identity()
    assert (me["Account"], me["Arn"]) == ("123456789012", "arn:aws:iam::123456789012:user/moto")
    arns = {name: iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc)["Role"]["Arn"] for name, doc in [
        ("t-root", trust({"AWS": "arn:aws:iam::123456789012:root"})), ("t-id", trust({"AWS": "123456789012"})),
        ("t-star", trust({"AWS": "*"})), ("t-me", trust({"AWS": ["arn:aws:iam::123456789012:user/moto"]})),
        ("t-other", trust({"AWS": "arn:aws:iam::123456789012:user/someone"})),
        ("t-service", trust({"Service": "codebuild.amazonaws.com"})),
        ("t-foreign", trust({"AWS": "arn:aws:iam::999999999999:root"}))]}
    for ok in ("t-root", "t-id", "t-star", "t-me"):
        assumed = sts.assume_role(RoleArn=arns[ok], RoleSessionName="sess")
        assert assumed["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::123456789012:assumed-role/{ok}/sess"
    for denied in ("t-other", "t-service", "t-foreign"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts.assume_role(RoleArn=arns[denied], RoleSessionName="sess")
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert e.value.response["Error"]["Message"] == (
            f"User: arn:aws:iam::123456789012:user/moto is not authorized to perform: sts:AssumeRole on resource: {arns[denied]}")
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/missing", RoleSessionName="sess")
    # Role chaining: a session of t-root may assume a role that trusts t-root.
    chained = iam.create_role(RoleName="t-chained", AssumeRolePolicyDocument=trust({"AWS": arns["t-root"]}))["Role"]["Arn"]
    session = client(emu, "sts", **creds_of(sts.assume_role(RoleArn=arns["t-root"], RoleSessionName="first")))
    assert session.get_caller_identity()["Arn"] == "arn:aws:sts::123456789012:assumed-role/t-root/first"
    second = client(emu, "sts", **creds_of(session.assume_role(RoleArn=chained, RoleSessionName="second")))
    assert second.get_caller_identity()["Arn"] == "arn:aws:sts::123456789012:assumed-role/t-chained/second"
    with pytest.raises(botocore.exceptions.ClientError, match="assumed-role/t-root/first is not authorized"):
        session.assume_role(RoleArn=arns["t-other"], RoleSessionName="xx")
    # Web identity: unsigned, no token validation, credentials for the role.
    web = boto3.client("sts", endpoint_url=emu, region_name="us-east-1", config=botocore.config.Config(
        signature_version=botocore.UNSIGNED, retries={"total_max_attempts": 1}))
    got = web.assume_role_with_web_identity(RoleArn=arns["t-service"], RoleSessionName="gh", WebIdentityToken="eyJhbGciOi.jwt")
    assert got["Credentials"]["AccessKeyId"] and got["AssumedRoleUser"]["Arn"].endswith(":assumed-role/t-service/gh")


def test_sts_mfa_conditions_and_session_tokens(emu):
    iam, sts = client(emu, "iam"), client(emu, "sts")
    mfa = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    strict = iam.create_role(RoleName="mfa-bool", AssumeRolePolicyDocument=trust(
        {"AWS": "arn:aws:iam::123456789012:root"}, mfa))["Role"]["Arn"]
    lenient = iam.create_role(RoleName="mfa-ifexists", AssumeRolePolicyDocument=trust(
        {"AWS": "arn:aws:iam::123456789012:root"}, {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}))["Role"]["Arn"]
    serial = "arn:aws:iam::123456789012:mfa/moto"
    admin(emu, "POST", "mfa", {"serial": serial, "code": "123456"})
    with pytest.raises(botocore.exceptions.ClientError, match="not authorized to perform: sts:AssumeRole"):
        sts.assume_role(RoleArn=strict, RoleSessionName="sess")
    for serial_, code in [(serial, "000000"), ("arn:aws:iam::123456789012:mfa/unknown", "123456")]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            sts.assume_role(RoleArn=strict, RoleSessionName="sess", SerialNumber=serial_, TokenCode=code)
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        assert "MultiFactorAuthentication failed" in e.value.response["Error"]["Message"]
    sts.assume_role(RoleArn=strict, RoleSessionName="sess", SerialNumber=serial, TokenCode="123456")
    # BoolIfExists: long-term keys carry no aws:MultiFactorAuthPresent, so (as on AWS) they pass ...
    sts.assume_role(RoleArn=lenient, RoleSessionName="sess")
    # ... while temporary credentials obtained without MFA carry `false` and do not.
    plain = client(emu, "sts", **creds_of(sts.get_session_token()))
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        plain.assume_role(RoleArn=lenient, RoleSessionName="sess")
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        plain.assume_role(RoleArn=strict, RoleSessionName="sess")
    # A session token obtained with MFA satisfies both.
    with pytest.raises(botocore.exceptions.ClientError, match="MultiFactorAuthentication failed"):
        sts.get_session_token(SerialNumber=serial, TokenCode="999999")
    with_mfa = client(emu, "sts", **creds_of(sts.get_session_token(SerialNumber=serial, TokenCode="123456", DurationSeconds=900)))
    assert with_mfa.get_caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/moto"
    with_mfa.assume_role(RoleArn=strict, RoleSessionName="sess")
    with_mfa.assume_role(RoleArn=lenient, RoleSessionName="sess")
    with pytest.raises(botocore.exceptions.ClientError, match="session credentials"):
        with_mfa.get_session_token()


def test_access_denied_faults_and_decode_authorization_message(emu):
    iam, sts = client(emu, "iam"), client(emu, "sts")
    admin(emu, "POST", "faults", {"service": "iam", "operation": "CreateRole", "kind": "access_denied", "count": 1,
                                  "encoded": True, "resource": "arn:aws:iam::123456789012:role/denied"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        iam.create_role(RoleName="denied", AssumeRolePolicyDocument=json.dumps(CB_TRUST))
    err = e.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    prefix = ("User: arn:aws:iam::123456789012:user/moto is not authorized to perform: iam:CreateRole on resource: "
              "arn:aws:iam::123456789012:role/denied Encoded authorization failure message: ")
    assert err["Error"]["Message"].startswith(prefix)
    decoded = json.loads(sts.decode_authorization_message(EncodedMessage=err["Error"]["Message"][len(prefix):])["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["action"] == "iam:CreateRole"
    assert decoded["context"]["resource"] == "arn:aws:iam::123456789012:role/denied"
    assert decoded["context"]["principal"]["arn"] == "arn:aws:iam::123456789012:user/moto"
    with pytest.raises(sts.exceptions.InvalidAuthorizationMessageException):
        sts.decode_authorization_message(EncodedMessage="forged")
    iam.create_role(RoleName="denied", AssumeRolePolicyDocument=json.dumps(CB_TRUST))  # the fault is used up

    who = "arn:aws:sts::123456789012:assumed-role/deployer/ci"
    for service, call, code, status in [
        ("ecr", lambda: client(emu, "ecr").describe_repositories(), "AccessDeniedException", 400),
        ("s3", lambda: client(emu, "s3").list_buckets(), "AccessDenied", 403),
        ("sns", lambda: client(emu, "sns").list_topics(), "AuthorizationError", 403),
        ("eks", lambda: client(emu, "eks").list_clusters(), "AccessDeniedException", 403),
        ("codebuild", lambda: client(emu, "codebuild").list_projects(), "AccessDeniedException", 400),
        ("ec2", lambda: client(emu, "ec2").describe_vpcs(), "UnauthorizedOperation", 403),
    ]:
        op = {"ecr": "DescribeRepositories", "s3": "ListBuckets", "sns": "ListTopics", "eks": "ListClusters",
              "codebuild": "ListProjects", "ec2": "DescribeVpcs"}[service]
        admin(emu, "POST", "faults", {"service": service, "operation": op, "kind": "access_denied", "principal": who})
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert (e.value.response["Error"]["Code"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
        assert e.value.response["Error"]["Message"] == \
            f"User: {who} is not authorized to perform: {service}:{op} on resource: *"
        call()


def test_several_accounts_each_see_their_own_resources(emu):
    region, a, b = "ca-central-1", "123456789012", "222222222222"
    admin(emu, "POST", "accounts", {"access_key_id": "AKIDACCOUNTB", "account_id": b})
    as_a = lambda service, **kw: client(emu, service, region, **kw)
    as_b = lambda service: client(emu, service, region, key="AKIDACCOUNTB")
    assert as_b("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{b}:user/moto"
    # A role in account B that account A may assume; and one in A that B may assume.
    in_b = as_b("iam").create_role(RoleName="cross", AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{a}:root"}))["Role"]["Arn"]
    in_a = as_a("iam").create_role(RoleName="cross-back", AssumeRolePolicyDocument=trust({"AWS": b}))["Role"]["Arn"]
    with pytest.raises(botocore.exceptions.ClientError, match=f"User: arn:aws:iam::{b}:user/moto is not authorized"):
        as_b("sts").assume_role(RoleArn=as_a("iam").create_role(
            RoleName="a-only", AssumeRolePolicyDocument=trust({"AWS": a}))["Role"]["Arn"], RoleSessionName="nope")
    b_creds = creds_of(as_a("sts").assume_role(RoleArn=in_b, RoleSessionName="from-a"))
    a_creds = creds_of(as_b("sts").assume_role(RoleArn=in_a, RoleSessionName="from-b"))
    as_b_role = lambda service: client(emu, service, region, **b_creds)
    who = as_b_role("sts").get_caller_identity()
    assert (who["Account"], who["Arn"]) == (b, f"arn:aws:sts::{b}:assumed-role/cross/from-a")
    who = client(emu, "sts", region, **a_creds).get_caller_identity()
    assert (who["Account"], who["Arn"]) == (a, f"arn:aws:sts::{a}:assumed-role/cross-back/from-b")

    # Resources made in B through the role: moto's services and the project's own.
    stack = [{"Key": "stack", "Value": "multi"}]
    as_b_role("ecr").create_repository(repositoryName="b-repo", tags=stack)
    as_b_role("sns").create_topic(Name="b-topic", Tags=stack)
    as_b_role("codebuild").create_project(name="b-project", serviceRole=codebuild_role(emu, "cb-b", region=region, **b_creds),
                                          tags=[{"key": "stack", "value": "multi"}], **CB_COMMON)
    conn = as_b_role("codestar-connections").create_connection(ProviderType="GitHub", ConnectionName="b", Tags=stack)["ConnectionArn"]
    assert conn.startswith(f"arn:aws:codestar-connections:{region}:{b}:connection/")
    admin(emu, "POST", "clusters", {"name": "b-cluster", "region": region, "account_id": b})
    as_b_role("eks").create_access_entry(clusterName="b-cluster", principalArn=f"arn:aws:iam::{b}:role/cross", tags={"stack": "multi"})
    # Account A made its own.
    as_a("ecr").create_repository(repositoryName="a-repo", tags=stack)
    as_a("codebuild").create_project(name="a-project", serviceRole=codebuild_role(emu, "cb-a", region=region),
                                     tags=[{"key": "stack", "value": "multi"}], **CB_COMMON)

    for view, account, mine, theirs in [(as_a, a, "a-", "b-"), (as_b, b, "b-", "a-"), (as_b_role, b, "b-", "a-")]:
        repos = [r["repositoryName"] for r in view("ecr").describe_repositories()["repositories"]]
        assert f"{mine}repo" in repos and f"{theirs}repo" not in repos
        projects = view("codebuild").list_projects()["projects"]
        assert f"{mine}project" in projects and f"{theirs}project" not in projects
        connections = [c["ConnectionArn"] for c in view("codestar-connections").list_connections()["Connections"]]
        assert (conn in connections) == (account == b)
        assert ("b-cluster" in view("eks").list_clusters()["clusters"]) == (account == b)
        topics = [t["TopicArn"] for t in view("sns").list_topics()["Topics"]]
        assert (f"arn:aws:sns:{region}:{b}:b-topic" in topics) == (account == b)
        tagged = [m["ResourceARN"] for m in view("resourcegroupstaggingapi").get_resources(
            TagFilters=[{"Key": "stack", "Values": ["multi"]}])["ResourceTagMappingList"]]
        assert tagged and all(f":{account}:" in arn for arn in tagged), tagged
    with pytest.raises(as_a("eks").exceptions.ResourceNotFoundException):
        as_a("eks").describe_cluster(name="b-cluster")


def test_iam_oidc_providers(emu):
    iam = client(emu, "iam")
    url = "https://token.actions.githubusercontent.com"
    arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"],
                                              Tags=[{"Key": "stack", "Value": "s"}])["OpenIDConnectProviderArn"]
    assert arn == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException, match=f"Provider with url {url} already exists"):
        iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"])
    got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert (got["Url"], got["ClientIDList"], got["ThumbprintList"]) == ("token.actions.githubusercontent.com", ["sts.amazonaws.com"], [])
    assert got["Tags"] == [{"Key": "stack", "Value": "s"}] and got["CreateDate"]
    assert {"Arn": arn} in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")  # idempotent
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["sts.amazonaws.com", "other"]
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="absent")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["other"]
    thumb = "6938fd4d98bab03faadb97b34396831e3780aea1"
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn, ThumbprintList=[thumb])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [thumb]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn, Tags=[{"Key": "Team", "Value": "t"}])
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["stack"])
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == [{"Key": "Team", "Value": "t"}]
    with_thumb = iam.create_open_id_connect_provider(Url="https://oidc.example.com/x", ThumbprintList=[thumb],
                                                     ClientIDList=["a"])["OpenIDConnectProviderArn"]
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=with_thumb)["ThumbprintList"] == [thumb]
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)  # idempotent, as IAM documents
    for call in (lambda: iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn),
                 lambda: iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="x"),
                 lambda: iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            call()
    assert {"Arn": arn} not in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]


def test_eventbridge_rules_and_codebuild_targets(emu):
    events = client(emu, "events", "eu-north-1")
    rule = events.put_rule(Name="nightly", ScheduleExpression="cron(0 3 * * ? *)", Description="d",
                           Tags=[{"Key": "stack", "Value": "s"}])["RuleArn"]
    assert rule == "arn:aws:events:eu-north-1:123456789012:rule/nightly"
    got = events.describe_rule(Name="nightly")
    assert (got["Name"], got["Arn"], got["ScheduleExpression"], got["State"], got["Description"]) == \
        ("nightly", rule, "cron(0 3 * * ? *)", "ENABLED", "d")
    assert got["EventBusName"] == "default"
    project = "arn:aws:codebuild:eu-north-1:123456789012:project/p"
    role = "arn:aws:iam::123456789012:role/events-invoke"
    out = events.put_targets(Rule="nightly", Targets=[{"Id": "build", "Arn": project, "RoleArn": role,
                                                        "Input": json.dumps({"environmentVariablesOverride": []})}])
    assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == []
    (target,) = events.list_targets_by_rule(Rule="nightly")["Targets"]
    assert (target["Id"], target["Arn"], target["RoleArn"], json.loads(target["Input"])) == \
        ("build", project, role, {"environmentVariablesOverride": []})
    assert events.list_tags_for_resource(ResourceARN=rule)["Tags"] == [{"Key": "stack", "Value": "s"}]
    events.tag_resource(ResourceARN=rule, Tags=[{"Key": "team", "Value": "t"}])
    events.untag_resource(ResourceARN=rule, TagKeys=["stack"])
    assert events.list_tags_for_resource(ResourceARN=rule)["Tags"] == [{"Key": "team", "Value": "t"}]
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_rule(Name="absent")
    with pytest.raises(botocore.exceptions.ClientError, match="ValidationException"):
        events.delete_rule(Name="nightly")  # AWS: targets must be removed first
    out = events.remove_targets(Rule="nightly", Ids=["build"])
    assert out["FailedEntryCount"] == 0 and events.list_targets_by_rule(Rule="nightly")["Targets"] == []
    events.delete_rule(Name="nightly")
    with pytest.raises(events.exceptions.ResourceNotFoundException):
        events.describe_rule(Name="nightly")


def test_kube_admin_routes(emu):
    put = admin(emu, "PUT", "kube/default/configmaps/hand", {"data": {"k": "v"}})
    assert put["metadata"]["name"] == "hand" and put["data"] == {"k": "v"}
    got = admin(emu, "GET", "kube/default/configmaps/hand")
    assert got["data"] == {"k": "v"} and got["metadata"]["resourceVersion"] == put["metadata"]["resourceVersion"]
    replaced = admin(emu, "PUT", "kube/default/configmaps/hand", {"data": {"k": "w"}})
    assert replaced["data"] == {"k": "w"} and replaced["metadata"]["uid"] == put["metadata"]["uid"]
    before = admin(emu, "GET", "kube/writes")
    admin(emu, "POST", "kube/interleave", {"namespace": "default", "name": "hand", "map_roles_append": "- x\n"})
    admin(emu, "GET", "kube/default/configmaps/hand")  # the admin read is not a client read
    cluster = client(emu, "eks").describe_cluster(name="eksdemo1")["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(cluster["certificateAuthority"]["data"]).decode())
    req = urllib.request.Request(f"{cluster['endpoint']}/api/v1/namespaces/default/configmaps/hand",
                                 headers={"Authorization": "Bearer static-admin-token"})
    with urllib.request.urlopen(req, context=ctx) as r:
        assert json.loads(r.read())["data"] == {"k": "w"}
    assert admin(emu, "GET", "kube/default/configmaps/hand")["data"]["mapRoles"] == "- x\n"
    assert admin(emu, "GET", "kube/writes")["writes"] == before["writes"] + 1
    admin(emu, "DELETE", "kube/default/configmaps/hand")
    with pytest.raises(urllib.error.HTTPError, match="404"):
        admin(emu, "GET", "kube/default/configmaps/hand")
    with pytest.raises(urllib.error.HTTPError, match="404"):
        admin(emu, "POST", "connections/arn%3Aaws%3Acodestar-connections%3Aus-east-1%3A123456789012%3Aconnection%2Fx/status",
              {"status": "AVAILABLE"})


def test_concurrent_calls_never_see_state_half_changed(emu):
    """Many clients at once, as provision applies: creates racing listings and detaches must
    never fail with a 500 (moto's dicts changed during another call's iteration)."""
    from concurrent.futures import ThreadPoolExecutor
    iam = client(emu, "iam")
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName="race-role", AssumeRolePolicyDocument=trust)
    first = iam.create_policy(PolicyName="race-0", PolicyDocument=doc)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="race-role", PolicyArn=first)

    def work(i):
        own = client(emu, "iam")
        if i % 3 == 0:
            own.create_policy(PolicyName=f"race-{i + 1}", PolicyDocument=doc)
        elif i % 3 == 1:
            own.get_account_authorization_details(Filter=["Role", "LocalManagedPolicy"])
        else:
            try:  # another worker may have detached it just now: AWS's answer, not a failure
                own.detach_role_policy(RoleName="race-role", PolicyArn=first)
            except own.exceptions.NoSuchEntityException:
                pass
            own.attach_role_policy(RoleName="race-role", PolicyArn=first)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(work, range(300)))
    assert len(iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]) == 101


def _reads(make, region):
    """Make a topic, a bucket with both settings, a tagged policy and a pipeline with `make(service)`
    clients, then read them as a plan does; volatile fields (request ids, dates) left out."""
    iam, sns, s3, cp = make("iam"), make("sns"), make("s3"), make("codepipeline")
    topic = sns.create_topic(Name="direct", Attributes={"DisplayName": "Approve"})["TopicArn"]
    where = {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket="direct-reads", **where)
    s3.put_bucket_encryption(Bucket="direct-reads", ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/k"},
                   "BucketKeyEnabled": True}]})
    s3.put_public_access_block(Bucket="direct-reads", PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.create_bucket(Bucket="direct-bare", **where)
    policy = iam.create_policy(PolicyName="direct", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}),
        Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1 & <x>"}])["Policy"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "codepipeline.amazonaws.com"}}]}
    role = iam.create_role(RoleName="cp-direct", AssumeRolePolicyDocument=json.dumps(trust), Description="d & <e>",
                           MaxSessionDuration=7200, Tags=[{"Key": "t", "Value": "v"}])["Role"]["Arn"]
    iam.create_role(RoleName="direct-2", Path="/p/", AssumeRolePolicyDocument=json.dumps(trust))
    stages = [{"name": n, "actions": [{"name": n[0], "actionTypeId": {"category": n, "owner": "AWS", "provider": p, "version": "1"},
                                        "configuration": c, **a}]}
              for n, p, c, a in [("Source", "S3", {"S3Bucket": "b", "S3ObjectKey": "k"}, {"outputArtifacts": [{"name": "src"}]}),
                                 ("Build", "CodeBuild", {"ProjectName": "p"}, {"inputArtifacts": [{"name": "src"}]})]]
    cp.create_pipeline(pipeline={"name": "direct", "roleArn": role, "stages": stages,
                                 "artifactStore": {"type": "S3", "location": "direct-reads"}})

    def strip(answer):
        answer.pop("ResponseMetadata", None)
        answer.get("metadata", {}).pop("created", None)
        answer.get("metadata", {}).pop("updated", None)
        return answer

    def error(call):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        return e.value.response["Error"]["Code"]

    return {
        "topic": strip(sns.get_topic_attributes(TopicArn=topic)),
        "topic missing": error(lambda: sns.get_topic_attributes(TopicArn=topic + "-gone")),
        "encryption": strip(s3.get_bucket_encryption(Bucket="direct-reads")),
        "encryption missing": error(lambda: s3.get_bucket_encryption(Bucket="direct-bare")),
        "public access block": strip(s3.get_public_access_block(Bucket="direct-reads")),
        "public access block missing": error(lambda: s3.get_public_access_block(Bucket="direct-bare")),
        "no bucket": error(lambda: s3.get_public_access_block(Bucket="direct-none")),
        "policy tags": strip(iam.list_policy_tags(PolicyArn=policy)),
        "policy tags paged": strip(iam.list_policy_tags(PolicyArn=policy, MaxItems=1)),
        "policy missing": error(lambda: iam.list_policy_tags(PolicyArn=policy + "-gone")),
        "pipeline": strip(cp.get_pipeline(name="direct")),
        "roles": sorted((dict(r, CreateDate=None, RoleId=None) for r in iam.list_roles(MaxItems=1000)["Roles"]
                         if r["RoleName"] in ("cp-direct", "direct-2")), key=lambda r: r["RoleName"]),
        "roles paged": sorted(r["RoleName"] for page in iam.get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1})
                              for r in page["Roles"] if r["RoleName"] in ("cp-direct", "direct-2")),
        "roles under a path": [r["RoleName"] for r in iam.list_roles(PathPrefix="/p/")["Roles"]],
        "pipeline missing": error(lambda: cp.get_pipeline(name="gone")),
    }


def test_direct_reads_answer_what_moto_answers(emu):
    """A plan's per-resource reads (topic attributes, bucket settings, policy tags, pipelines) are
    answered by the emulator itself, not moto's web stack: the answers must be moto's, errors too."""
    import moto
    region = "sa-east-1"
    ours = _reads(lambda service: client(emu, service, region), region)
    with moto.mock_aws():
        theirs = _reads(lambda service: boto3.client(service, region_name=region, aws_access_key_id="testing",
                                                     aws_secret_access_key="testing"), region)
    assert ours["topic"]["Attributes"]["DisplayName"] == "Approve"
    assert ours["policy tags"]["Tags"] == [{"Key": "a", "Value": "1 & <x>"}, {"Key": "b", "Value": "2"}]
    assert ours["encryption"]["ServerSideEncryptionConfiguration"]["Rules"][0]["BucketKeyEnabled"] is True
    assert ours == theirs
