"""EKS clusters served by the Kubernetes double (registered with `--cluster` or the admin API), their
access entries and access policies. Clusters made through moto's CreateCluster stay moto's."""
import base64
import json
import re
import urllib.parse
import uuid

from .base import AwsError, PerRegion, now_epoch

SERVICE = "eks"
CT = "application/json"

ROUTES = [
    ("GET", r"^/clusters/([^/]+)$", "DescribeCluster"),
    ("DELETE", r"^/clusters/([^/]+)$", "DeleteCluster"),
    ("GET", r"^/clusters$", "ListClusters"),
    ("POST", r"^/clusters$", "CreateCluster"),
    ("POST", r"^/clusters/([^/]+)/access-entries$", "CreateAccessEntry"),
    ("GET", r"^/clusters/([^/]+)/access-entries$", "ListAccessEntries"),
    ("GET", r"^/clusters/([^/]+)/access-entries/([^/]+)$", "DescribeAccessEntry"),
    ("POST", r"^/clusters/([^/]+)/access-entries/([^/]+)$", "UpdateAccessEntry"),
    ("DELETE", r"^/clusters/([^/]+)/access-entries/([^/]+)$", "DeleteAccessEntry"),
    ("POST", r"^/clusters/([^/]+)/access-entries/([^/]+)/access-policies$", "AssociateAccessPolicy"),
    ("GET", r"^/clusters/([^/]+)/access-entries/([^/]+)/access-policies$", "ListAssociatedAccessPolicies"),
    ("DELETE", r"^/clusters/([^/]+)/access-entries/([^/]+)/access-policies/([^/]+)$", "DisassociateAccessPolicy"),
    ("POST", r"^/tags/(.+)$", "TagResource"),
    ("GET", r"^/tags/(.+)$", "ListTagsForResource"),
    ("DELETE", r"^/tags/(.+)$", "UntagResource"),
]


def route(method, path):
    for m, pattern, name in ROUTES:
        mt = re.match(pattern, path) if m == method else None
        if mt:
            return name, [urllib.parse.unquote(g) for g in mt.groups()]
    return f"{method} {path}", []


def operation_name(method, path, query):
    return route(method, path)[0]


class State:
    def __init__(self):
        self.clusters = {}          # name -> {"mode", "arn", "created"}
        self.access_entries = {}    # (cluster, principal) -> AccessEntry
        self.access_policies = {}   # (cluster, principal) -> {policyArn: AssociatedAccessPolicy}
        self.tags = {}              # arn -> {key: value}


STATE = PerRegion(State)


def register_cluster(name, mode, account, region):
    state = STATE(account, region)
    with STATE.lock:
        state.clusters[name] = {"mode": mode, "created": now_epoch(),
                                "arn": f"arn:aws:eks:{region}:{account}:cluster/{name}"}


def _cluster(state, name):
    c = state.clusters.get(name)
    if not c:
        raise AwsError("ResourceNotFoundException", f"No cluster found for name: {name}.", 404)
    if c["mode"] == "CONFIG_MAP":
        raise AwsError("InvalidRequestException",
                       "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.")
    return c


def _entry(state, cluster, principal):
    e = state.access_entries.get((cluster, principal))
    if not e:
        raise AwsError("ResourceNotFoundException",
                       f"The specified access entry resource can't be found for principal {principal}.", 404)
    return e


def _validate_entry(req):
    for g in req.get("kubernetesGroups", []):
        if g.startswith("system:"):
            raise AwsError("InvalidParameterException",
                           f"The kubernetes group name {g} is invalid, it cannot start with system:")
    u = req.get("username")
    if u and u.startswith("system:"):
        raise AwsError("InvalidParameterException", f"The username {u} is invalid, it cannot start with system:")


def describe_cluster(call, state, name):
    c = state.clusters.get(name)
    if c is None:
        return None  # a cluster made through moto's CreateCluster
    kube = call.emulator.kube
    return call.respond({"cluster": {
        "name": name, "arn": c["arn"], "createdAt": c["created"], "version": "1.32",
        "endpoint": kube.url, "roleArn": f"arn:aws:iam::{call.account}:role/eksClusterRole",
        "status": "ACTIVE", "platformVersion": "eks.10",
        "certificateAuthority": {"data": base64.b64encode(kube.ca_pem).decode()},
        "accessConfig": {"authenticationMode": c["mode"], "bootstrapClusterCreatorAdminPermissions": True},
        "tags": state.tags.get(c["arn"], {}),
    }})


def list_clusters(call, state):
    """Registered clusters and moto's, in one listing."""
    theirs = call.moto(b"", query_string="")
    names = json.loads(theirs.body or b"{}").get("clusters", []) if theirs.status == 200 else []
    names = sorted(set(names) | set(state.clusters))
    size = int(call.query.get("maxResults", ["100"])[0])
    start = int(call.query.get("nextToken", ["0"])[0] or 0)
    out = {"clusters": names[start:start + size]}
    if start + size < len(names):
        out["nextToken"] = str(start + size)
    return call.respond(out)


def tags_api(call, state, name, arn):
    owned = {c["arn"] for c in state.clusters.values()} | {e["accessEntryArn"] for e in state.access_entries.values()}
    if arn not in owned:
        return None  # moto's resources
    with STATE.lock:
        tags = state.tags.setdefault(arn, {})
        if name == "TagResource":
            tags.update(call.json.get("tags", {}))
        elif name == "UntagResource":
            for k in call.query.get("tagKeys", []):
                tags.pop(k, None)
        return call.respond({"tags": dict(tags)} if name == "ListTagsForResource" else {})


def access_api(call, state, name, args):
    req = call.json
    _cluster(state, args[0])
    if name == "CreateAccessEntry":
        principal = req.get("principalArn", "")
        if (args[0], principal) in state.access_entries:
            raise AwsError("ResourceInUseException",
                           "The specified access entry resource is already in use on this cluster.", 409)
        _validate_entry(req)
        kind = "user" if ":user/" in principal else "role"
        pname = principal.split("/")[-1]
        paccount = principal.split(":")[4] if principal.count(":") >= 5 else call.account
        t = now_epoch()
        entry = {
            "clusterName": args[0], "principalArn": principal,
            "kubernetesGroups": req.get("kubernetesGroups", []),
            "accessEntryArn": f"arn:aws:eks:{call.region}:{call.account}:access-entry/{args[0]}/{kind}/"
                              f"{paccount}/{pname}/{uuid.uuid4().hex[:16]}",
            "createdAt": t, "modifiedAt": t, "tags": req.get("tags", {}),
            "username": req.get("username") or (f"arn:aws:sts::{paccount}:assumed-role/{pname}/{{{{SessionName}}}}"
                                                if kind == "role" else principal),
            "type": req.get("type", "STANDARD"),
        }
        state.access_entries[(args[0], principal)] = entry
        state.tags[entry["accessEntryArn"]] = dict(req.get("tags", {}))
        return call.respond({"accessEntry": entry})
    if name == "ListAccessEntries":
        return call.respond({"accessEntries": sorted(p for (c, p) in state.access_entries if c == args[0])})
    key = (args[0], args[1])
    entry = _entry(state, *key)
    if name == "DescribeAccessEntry":
        return call.respond({"accessEntry": dict(entry, tags=state.tags.get(entry["accessEntryArn"], {}))})
    if name == "UpdateAccessEntry":
        _validate_entry(req)
        entry.update({k: req[k] for k in ("kubernetesGroups", "username") if k in req})
        entry["modifiedAt"] = now_epoch()
        return call.respond({"accessEntry": entry})
    if name == "DeleteAccessEntry":
        del state.access_entries[key]
        state.access_policies.pop(key, None)
        state.tags.pop(entry["accessEntryArn"], None)
        return call.respond({})
    policies = state.access_policies.setdefault(key, {})
    if name == "AssociateAccessPolicy":
        arn = req.get("policyArn", "")
        if not arn.startswith("arn:aws:eks::aws:cluster-access-policy/"):
            raise AwsError("InvalidParameterException", f"The policy {arn} is not a valid access policy.")
        t = now_epoch()
        prev = policies.get(arn)
        policies[arn] = {"policyArn": arn, "accessScope": req.get("accessScope", {"type": "cluster"}),
                         "associatedAt": prev["associatedAt"] if prev else t, "modifiedAt": t}
        return call.respond({"clusterName": args[0], "principalArn": args[1],
                             "associatedAccessPolicy": policies[arn]})
    if name == "ListAssociatedAccessPolicies":
        return call.respond({"clusterName": args[0], "principalArn": args[1],
                             "associatedAccessPolicies": list(policies.values())})
    if name == "DisassociateAccessPolicy":
        policies.pop(args[2], None)
        return call.respond({})
    raise AwsError("InvalidRequestException", f"{name} is not emulated")


def handle(call):
    name, args = route(call.method, call.path)
    state = STATE(call.account, call.region)
    if name == "DescribeCluster":
        return describe_cluster(call, state, args[0])
    if name == "ListClusters":
        return list_clusters(call, state)
    if name in ("TagResource", "ListTagsForResource", "UntagResource"):
        return tags_api(call, state, name, args[0])
    if name in ("CreateCluster", "DeleteCluster") or not args:
        return None
    with STATE.lock:
        return access_api(call, state, name, args)


OPERATIONS = {name: handle for _, _, name in ROUTES}


def tagged_resources(account, region):
    state = STATE.get(account, region)
    if not state:
        return
    for c in list(state.clusters.values()):
        yield "eks:cluster", c["arn"], dict(state.tags.get(c["arn"], {}))
    for e in list(state.access_entries.values()):
        yield "eks:access-entry", e["accessEntryArn"], dict(state.tags.get(e["accessEntryArn"], {}))


def admin_register(emu, data):
    register_cluster(data["name"], data.get("authentication_mode", "API_AND_CONFIG_MAP"),
                     str(data.get("account_id") or emu.account), data.get("region") or emu.region)
    return {"ok": True}


ADMIN = [("POST", r"^clusters$", admin_register)]
