"""Resource Groups Tagging API: GetResources, GetTagKeys and GetTagValues over every service that
lists its resources here (`tagged_resources` in each module), moto's (ECR, S3, SNS, CodePipeline,
EventBridge) and the project's own (connections, CodeBuild, EKS). moto's own backend misses ECR,
CodePipeline and EventBridge rules and lists S3 buckets of every region.

Like AWS: only tagged resources of the caller's account and region; no IAM resources (IAM is not
a Tagging API service); filters AND across TagFilters, OR across one filter's Values. Resources
that were tagged once but have no tags now are not listed (AWS lists them with empty tags).
"""
import base64
import json
import time

from .base import AwsError

SERVICE = "tagging"
PAGE_DEFAULT = 50       # AWS does not document it; moto's choice
TOKEN_LIFETIME = 900    # "A PaginationToken is valid for a maximum of 15 minutes."


def _sources(types=()):
    """The modules' listings; with type filters, only those of the services named (a plan asks one
    service at a time, and every listing walks a service's whole state)."""
    from . import MODULES
    services = {t.split(":", 1)[0] for t in types}
    return [m.tagged_resources for m in MODULES
            if hasattr(m, "tagged_resources") and (not services or m.SERVICE in services)]


def _resources(account, region, types=()):
    out = []
    for source in _sources(types):
        out += [(kind, arn, tags) for kind, arn, tags in source(account, region) if tags]
    return sorted(out, key=lambda r: r[1])


def _type_matches(kind, filters):
    service = kind.split(":", 1)[0]
    return not filters or any(f == kind or f == service for f in filters)


def _tags_match(tags, filters):
    for f in filters:
        if f.get("Key") not in tags:
            return False
        if f.get("Values") and tags[f["Key"]] not in f["Values"]:
            return False
    return True


def _token(offset):
    return base64.urlsafe_b64encode(json.dumps({"offset": offset, "issued": int(time.time())}).encode()).decode()


def _offset(token):
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset, issued = int(data["offset"]), int(data["issued"])
    except Exception:
        raise AwsError("InvalidParameterException", "The specified pagination token is not valid.")
    if time.time() - issued > TOKEN_LIFETIME:
        raise AwsError("PaginationTokenExpiredException", "A PaginationToken is valid for a maximum of 15 minutes.")
    return offset


def _validate(req):
    arns = req.get("ResourceARNList")
    if arns is not None:
        for other in ("TagFilters", "ResourceTypeFilters", "ResourcesPerPage", "TagsPerPage", "PaginationToken"):
            if req.get(other) not in (None, "", []):
                raise AwsError("InvalidParameterException",
                               f"You can't specify both ResourceARNList and {other} in the same request.")
        if not 1 <= len(arns) <= 100:
            raise AwsError("InvalidParameterException", "ResourceARNList must contain between 1 and 100 ARNs.")
    if "ResourcesPerPage" in req and not 1 <= int(req["ResourcesPerPage"]) <= 100:
        raise AwsError("InvalidParameterException", "ResourcesPerPage must be between 1 and 100")
    if "TagsPerPage" in req and not 100 <= int(req["TagsPerPage"]) <= 500:
        raise AwsError("InvalidParameterException", "TagsPerPage must be between 100 and 500")
    filters = req.get("TagFilters") or []
    if len(filters) > 50 or any(len(f.get("Values") or []) > 20 for f in filters):
        raise AwsError("InvalidParameterException", "TagFilters allows up to 50 keys, each with up to 20 values.")
    if req.get("ExcludeCompliantResources") and not req.get("IncludeComplianceDetails"):
        raise AwsError("InvalidParameterException",
                       "ExcludeCompliantResources can only be used when IncludeComplianceDetails is true.")


def get_resources(call):
    req = call.json
    _validate(req)
    arns = set(req.get("ResourceARNList") or [])
    types, filters = req.get("ResourceTypeFilters") or [], req.get("TagFilters") or []
    matching = [(arn, tags) for kind, arn, tags in _resources(call.account, call.region, types)
                if (not arns or arn in arns) and _type_matches(kind, types) and _tags_match(tags, filters)]
    if req.get("ExcludeCompliantResources"):
        matching = []  # no tag policies here: every resource is compliant
    start = _offset(req.get("PaginationToken"))
    max_resources = int(req.get("ResourcesPerPage") or (PAGE_DEFAULT if "TagsPerPage" not in req else 100))
    max_tags = int(req.get("TagsPerPage") or 0)
    page, tag_count = [], 0
    for arn, tags in matching[start:]:
        weight = max(len(tags), 1)  # "A resource with no tags is counted as having one tag"
        if len(page) >= max_resources or (page and max_tags and tag_count + weight > max_tags):
            break
        entry = {"ResourceARN": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
        if req.get("IncludeComplianceDetails"):
            entry["ComplianceDetails"] = {"NoncompliantKeys": [], "KeysWithNoncompliantValues": [],
                                          "ComplianceStatus": True}
        page.append(entry)
        tag_count += weight
    done = start + len(page) >= len(matching)
    return call.respond({"PaginationToken": "" if done else _token(start + len(page)),
                         "ResourceTagMappingList": page})


def _paged(call, key, values):
    start = _offset(call.json.get("PaginationToken"))
    page = values[start:start + 500]
    done = start + len(page) >= len(values)
    return call.respond({"PaginationToken": "" if done else _token(start + len(page)), key: page})


def get_tag_keys(call):
    keys = {k for _, _, tags in _resources(call.account, call.region) for k in tags}
    return _paged(call, "TagKeys", sorted(keys))


def get_tag_values(call):
    key = call.json.get("Key")
    values = {tags[key] for _, _, tags in _resources(call.account, call.region) if key in tags}
    return _paged(call, "TagValues", sorted(values))


OPERATIONS = {"GetResources": get_resources, "GetTagKeys": get_tag_keys, "GetTagValues": get_tag_values}
