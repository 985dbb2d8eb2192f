"""IAM corrections over moto: GetAccountAuthorizationDetails in AWS's shape (moto leaves out
PolicyName/PolicyId, sends trust policies un-encoded, ignores MaxItems/Marker and returns every
loaded AWS-managed policy), and the OIDC client-id operations moto lacks."""
import base64
import json
import urllib.parse

from .base import AwsError, query_response

SERVICE = "iam"


def _backend(call):
    from moto.iam.models import iam_backends
    return iam_backends[call.account]["aws"]


def _encode(document):
    """Policy documents come back URL-encoded (RFC 3986), as IAM stores them."""
    return urllib.parse.quote(document or "", safe="")


def _tags(tags):
    return list(tags.values()) if isinstance(tags, dict) else list(tags or [])


def _attached(entity):
    return [{"PolicyName": p.name, "PolicyArn": p.arn} for p in entity.managed_policies.values()]


def _inline(entity):
    return [{"PolicyName": name, "PolicyDocument": _encode(doc)} for name, doc in entity.policies.items()]


def _role(role):
    return {"Path": role.path, "RoleName": role.name, "RoleId": role.id, "Arn": role.arn,
            "CreateDate": role.create_date, "AssumeRolePolicyDocument": _encode(role.assume_role_policy_document)}


def _role_detail(backend, role):
    out = _role(role)
    out.update({
        "InstanceProfileList": [
            {"Path": ip.path, "InstanceProfileName": ip.name, "InstanceProfileId": ip.id, "Arn": ip.arn,
             "CreateDate": ip.create_date, "Roles": [_role(r) for r in ip.roles], "Tags": _tags(ip.tags)}
            for ip in backend.instance_profiles.values() if role in ip.roles],
        "RolePolicyList": _inline(role),
        "AttachedManagedPolicies": _attached(role),
        "Tags": _tags(role.tags),
        "RoleLastUsed": {"LastUsedDate": role.last_used, "Region": role.last_used_region} if role.last_used else {},
    })
    if role.permissions_boundary_arn:
        out["PermissionsBoundary"] = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                      "PermissionsBoundaryArn": role.permissions_boundary_arn}
    return out


def _user_detail(backend, user):
    return {"Path": user.path, "UserName": user.name, "UserId": user.id, "Arn": user.arn,
            "CreateDate": user.create_date, "UserPolicyList": _inline(user),
            "GroupList": [g.name for g in backend.get_groups_for_user(user.name)],
            "AttachedManagedPolicies": _attached(user), "Tags": backend.list_user_tags(user.name)}


def _group_detail(group):
    return {"Path": group.path, "GroupName": group.name, "GroupId": group.id, "Arn": group.arn,
            "CreateDate": group.create_date, "GroupPolicyList": _inline(group),
            "AttachedManagedPolicies": _attached(group)}


def _policy_detail(policy):
    return {"PolicyName": policy.name, "PolicyId": policy.id, "Arn": policy.arn, "Path": policy.path,
            "DefaultVersionId": policy.default_version_id, "AttachmentCount": policy.attachment_count,
            "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
            **({"Description": policy.description} if policy.description else {}),
            "CreateDate": policy.create_date, "UpdateDate": policy.update_date,
            "PolicyVersionList": [{"Document": _encode(v.document), "VersionId": v.version_id,
                                   "IsDefaultVersion": v.is_default, "CreateDate": v.create_date}
                                  for v in policy.versions]}


def _marker(offset):
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(marker):
    try:
        return int(json.loads(base64.urlsafe_b64decode(marker.encode()))["offset"])
    except Exception:
        raise AwsError("ValidationError", "Invalid Marker.")


def _multi(form, name):
    """A query-protocol list: Name.member.1, Name.member.2, ..."""
    items = sorted(((int(k.rsplit(".", 1)[1]), v) for k, v in form.items() if k.startswith(f"{name}.member.")))
    return [v for _, v in items]


def get_account_authorization_details(call):
    """Like IAM: entities in order users, groups, roles, policies, paged together by MaxItems
    (1-1000, default 100). AWS-managed policies are listed only when attached to something."""
    form, backend = call.form, _backend(call)
    kinds = set(_multi(form, "Filter")) or {"User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy"}
    unknown = kinds - {"User", "Group", "Role", "LocalManagedPolicy", "AWSManagedPolicy"}
    if unknown:
        raise AwsError("ValidationError", f"1 validation error detected: Value '{sorted(unknown)}' at 'filter' failed "
                       "to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
                       "[Role, AWSManagedPolicy, User, Group, LocalManagedPolicy]]")
    size = int(form.get("MaxItems", 100))
    if not 1 <= size <= 1000:
        raise AwsError("ValidationError", "1 validation error detected: Value at 'maxItems' failed to satisfy "
                       "constraint: Member must have value between 1 and 1000")
    start = _offset(form["Marker"]) if form.get("Marker") else 0
    aws_managed = {p.arn for p in backend.aws_managed_policies}
    entities = []
    if "User" in kinds:
        entities += [("UserDetailList", u) for u in sorted(backend.users.values(), key=lambda u: u.name)]
    if "Group" in kinds:
        entities += [("GroupDetailList", g) for g in sorted(backend.groups.values(), key=lambda g: g.name)]
    if "Role" in kinds:
        entities += [("RoleDetailList", r) for r in sorted(backend.roles.values(), key=lambda r: r.name)]
    for p in sorted(backend.managed_policies.values(), key=lambda p: p.arn):
        is_aws = p.arn in aws_managed
        if ("LocalManagedPolicy" in kinds and not is_aws) or ("AWSManagedPolicy" in kinds and is_aws and p.attachment_count):
            entities.append(("Policies", p))
    out = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    build = {"UserDetailList": lambda u: _user_detail(backend, u), "GroupDetailList": _group_detail,
             "RoleDetailList": lambda r: _role_detail(backend, r), "Policies": _policy_detail}
    for key, entity in entities[start:start + size]:
        out[key].append(build[key](entity))
    out["IsTruncated"] = start + size < len(entities)
    if out["IsTruncated"]:
        out["Marker"] = _marker(start + size)
    return query_response("iam", "GetAccountAuthorizationDetails", out)


def _provider(call):
    arn = call.form.get("OpenIDConnectProviderArn", "")
    provider = _backend(call).open_id_providers.get(arn)
    if not provider:
        raise AwsError("NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}", 404)
    return provider


def create_open_id_connect_provider(call):
    """moto says "Unknown" for a duplicate URL; IAM names the provider."""
    url = call.form.get("Url", "")
    parsed = urllib.parse.urlparse(url)
    arn = f"arn:aws:iam::{call.account}:oidc-provider/{parsed.netloc}{parsed.path}"
    if arn in _backend(call).open_id_providers:
        raise AwsError("EntityAlreadyExists", f"Provider with url {url} already exists.", 409)
    return None


def add_client_id(call):
    """Idempotent, as IAM: adding a present client id changes nothing."""
    provider, client_id = _provider(call), call.form.get("ClientID", "")
    if not 1 <= len(client_id) <= 255:
        raise AwsError("ValidationError", "1 validation error detected: Value at 'clientID' failed to satisfy "
                       "constraint: Member must have length between 1 and 255")
    if client_id not in provider.client_id_list:
        if len(provider.client_id_list) >= 100:
            raise AwsError("LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100", 409)
        provider.client_id_list.append(client_id)
    return query_response("iam", "AddClientIDToOpenIDConnectProvider", {})


def remove_client_id(call):
    """Idempotent, as IAM: removing an absent client id is not an error."""
    provider, client_id = _provider(call), call.form.get("ClientID", "")
    if client_id in provider.client_id_list:
        provider.client_id_list.remove(client_id)
    return query_response("iam", "RemoveClientIDFromOpenIDConnectProvider", {})


def list_roles(call):
    """A plan lists every role once for the descriptions and session limits account details leave
    out: answered from moto's roles directly (moto's serializer costs ten times the CPU)."""
    form = call.form
    roles, marker = _backend(call).list_roles(form.get("PathPrefix"), form.get("Marker"), form.get("MaxItems"))
    out = []
    for role in roles:
        r = _role(role)
        r["AssumeRolePolicyDocument"] = role.assume_role_policy_document
        if role.description is not None:
            r["Description"] = role.description
        r["MaxSessionDuration"] = role.max_session_duration
        out.append(r)
    return query_response("iam", "ListRoles", {"Roles": out, "IsTruncated": marker is not None,
                                               **({"Marker": marker} if marker else {})})


def list_policy_tags(call):
    """A plan reads every customer-managed policy's tags (IAM's listings leave them out): answered
    from moto's policy directly; an unknown policy or a later page is left to moto."""
    backend, arn = _backend(call), call.form.get("PolicyArn", "")
    if arn not in backend.managed_policies or call.form.get("Marker"):
        return None
    tags, marker = backend.list_policy_tags(arn, None, int(call.form.get("MaxItems", 100)))
    return query_response("iam", "ListPolicyTags", {"Tags": tags, "IsTruncated": marker is not None,
                                                    **({"Marker": marker} if marker else {})})


OPERATIONS = {
    "GetAccountAuthorizationDetails": get_account_authorization_details,
    "ListPolicyTags": list_policy_tags,
    "ListRoles": list_roles,
    "CreateOpenIDConnectProvider": create_open_id_connect_provider,
    "AddClientIDToOpenIDConnectProvider": add_client_id,
    "RemoveClientIDFromOpenIDConnectProvider": remove_client_id,
}
