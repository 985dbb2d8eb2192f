"""ECR corrections over moto: absent members read as their defaults, DescribeRepositories paging."""
import base64
import json

from .base import AwsError, moto_backend

SERVICE = "ecr"


def scan_defaults(call):
    """AWS SDKs leave out members equal to their default (`scanOnPush: false`); AWS reads an absent
    member as the default, moto as "no change". Fill it in before moto sees the request."""
    req = call.json
    conf = req.get("imageScanningConfiguration")
    if isinstance(conf, dict) and "scanOnPush" not in conf:
        return call.moto(json.dumps(dict(req, imageScanningConfiguration=dict(conf, scanOnPush=False))).encode())
    return None


def _token(offset):
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token):
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except Exception:
        raise AwsError("InvalidParameterException", "Invalid parameter at 'nextToken' failed to satisfy constraint: "
                       "'The token is not valid'")


def describe_repositories(call):
    """moto ignores maxResults/nextToken; AWS pages (100 by default, 1-1000) unless names are given."""
    req = call.json
    if req.get("repositoryNames"):
        if "maxResults" in req or "nextToken" in req:
            raise AwsError("InvalidParameterException", "Invalid parameter at 'maxResults, nextToken' failed to "
                           "satisfy constraint: 'This option cannot be used with repositoryNames'")
        return None  # moto: RepositoryNotFoundException for a missing name, as AWS
    size = int(req.get("maxResults", 100))
    if not 1 <= size <= 1000:
        raise AwsError("InvalidParameterException", "Invalid parameter at 'maxResults' failed to satisfy "
                       "constraint: 'Member must have value less than or equal to 1000 and greater than or equal to 1'")
    start = _offset(req["nextToken"]) if req.get("nextToken") else 0
    resp = call.moto(json.dumps({k: v for k, v in req.items() if k not in ("maxResults", "nextToken")}).encode())
    if resp.status != 200:
        return resp
    repos = json.loads(resp.body)["repositories"]
    out = {"repositories": repos[start:start + size]}
    if start + size < len(repos):
        out["nextToken"] = _token(start + size)
    return call.respond(out)


OPERATIONS = {"CreateRepository": scan_defaults, "PutImageScanningConfiguration": scan_defaults,
              "DescribeRepositories": describe_repositories}


def tagged_resources(account, region):
    from moto.ecr.models import ecr_backends
    backend = moto_backend(ecr_backends, account, region)
    for repo in list(backend.repositories.values()) if backend else []:
        yield "ecr:repository", repo.arn, backend.tagger.get_tag_dict_for_resource(repo.arn)
