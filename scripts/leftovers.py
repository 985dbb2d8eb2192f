#!/usr/bin/env python3
"""List every resource in the emulator that still carries `provision:stack=<stack>`.

Exit 0 and print `none` when the account is clean; exit 1 and list them otherwise. Used by
`make demo` after destroy to show that destroy removed everything the stack owned.
"""
import argparse
import sys

import boto3

TAG = "provision:stack"


def tags_dict(items, key="Key", value="Value"):
    return {t[key]: t[value] for t in items or []}


def scan(endpoint, region, stack):
    kw = dict(endpoint_url=endpoint, region_name=region,
              aws_access_key_id="testing", aws_secret_access_key="testing")
    found = []

    ecr = boto3.client("ecr", **kw)
    for r in ecr.describe_repositories().get("repositories", []):
        t = tags_dict(ecr.list_tags_for_resource(resourceArn=r["repositoryArn"]).get("tags"))
        if t.get(TAG) == stack:
            found.append(f"ecr repository {r['repositoryName']}")

    iam = boto3.client("iam", **kw)
    for r in iam.list_roles()["Roles"]:
        t = tags_dict(iam.list_role_tags(RoleName=r["RoleName"]).get("Tags"))
        if t.get(TAG) == stack:
            found.append(f"iam role {r['RoleName']}")
    for p in iam.list_policies(Scope="Local")["Policies"]:
        t = tags_dict(iam.list_policy_tags(PolicyArn=p["Arn"]).get("Tags"))
        if t.get(TAG) == stack:
            found.append(f"iam policy {p['PolicyName']}")

    s3 = boto3.client("s3", **kw)
    for b in s3.list_buckets().get("Buckets", []):
        try:
            t = tags_dict(s3.get_bucket_tagging(Bucket=b["Name"]).get("TagSet"))
        except s3.exceptions.ClientError:
            t = {}
        if t.get(TAG) == stack:
            found.append(f"s3 bucket {b['Name']}")

    sns = boto3.client("sns", **kw)
    for topic in sns.list_topics().get("Topics", []):
        t = tags_dict(sns.list_tags_for_resource(ResourceArn=topic["TopicArn"]).get("Tags"))
        if t.get(TAG) == stack:
            found.append(f"sns topic {topic['TopicArn']}")

    cb = boto3.client("codebuild", **kw)
    names = cb.list_projects().get("projects", [])
    if names:
        for p in cb.batch_get_projects(names=names).get("projects", []):
            t = tags_dict(p.get("tags"), "key", "value")
            if t.get(TAG) == stack:
                found.append(f"codebuild project {p['name']}")

    cp = boto3.client("codepipeline", **kw)
    for p in cp.list_pipelines().get("pipelines", []):
        arn = cp.get_pipeline(name=p["name"])["metadata"]["pipelineArn"]
        t = tags_dict(cp.list_tags_for_resource(resourceArn=arn).get("tags"), "key", "value")
        if t.get(TAG) == stack:
            found.append(f"codepipeline {p['name']}")

    cs = boto3.client("codestar-connections", **kw)
    for c in cs.list_connections().get("Connections", []):
        t = tags_dict(cs.list_tags_for_resource(ResourceArn=c["ConnectionArn"]).get("Tags"))
        if t.get(TAG) == stack:
            found.append(f"codestar connection {c['ConnectionName']}")
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--stack", required=True)
    a = ap.parse_args()
    found = scan(a.endpoint, a.region, a.stack)
    if found:
        print(f"{len(found)} resource(s) still tagged {TAG}={a.stack}:")
        for f in found:
            print(f"  {f}")
        return 1
    print(f"none: no resource in the emulator carries {TAG}={a.stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
