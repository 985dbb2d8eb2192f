"""CodeStar Connections (moto has none). Connections are created PENDING, as on AWS, until the
admin API (standing in for the console handshake) sets them AVAILABLE."""
import urllib.parse
import uuid

from .base import AwsError, PerRegion, arn_parts, tag_list

SERVICE = "codestar-connections"


class State:
    def __init__(self):
        self.connections = {}  # arn -> Connection
        self.tags = {}         # arn -> {key: value}


STATE = PerRegion(State)


def _connection(state, arn):
    c = state.connections.get(arn)
    if not c:
        raise AwsError("ResourceNotFoundException", f"Connection {arn} does not exist")
    return c


def create_connection(call):
    req = call.json
    name = req.get("ConnectionName", "")
    if not name or len(name) > 32:
        raise AwsError("ValidationException", "ConnectionName must be 1-32 characters")
    provider = req.get("ProviderType")
    if not provider and not req.get("HostArn"):
        raise AwsError("ValidationException", "ProviderType or HostArn is required")
    arn = f"arn:aws:codestar-connections:{call.region}:{call.account}:connection/{uuid.uuid4()}"
    state = STATE(call.account, call.region)
    with STATE.lock:
        state.connections[arn] = {
            "ConnectionName": name, "ConnectionArn": arn, "ProviderType": provider or "GitHubEnterpriseServer",
            "OwnerAccountId": call.account, "ConnectionStatus": "PENDING",
            **({"HostArn": req["HostArn"]} if req.get("HostArn") else {}),
        }
        state.tags[arn] = {t["Key"]: t["Value"] for t in req.get("Tags", [])}
    return call.respond({"ConnectionArn": arn, "Tags": req.get("Tags", [])})


def get_connection(call):
    return call.respond({"Connection": _connection(STATE(call.account, call.region), call.json.get("ConnectionArn"))})


def list_connections(call):
    req = call.json
    items = [c for c in STATE(call.account, call.region).connections.values()
             if (not req.get("ProviderTypeFilter") or c["ProviderType"] == req["ProviderTypeFilter"])
             and (not req.get("HostArnFilter") or c.get("HostArn") == req["HostArnFilter"])]
    start = int(req.get("NextToken") or 0)
    size = int(req.get("MaxResults") or 50)
    out = {"Connections": items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = str(start + size)
    return call.respond(out)


def delete_connection(call):
    state, arn = STATE(call.account, call.region), call.json.get("ConnectionArn")
    with STATE.lock:
        _connection(state, arn)
        del state.connections[arn]
        state.tags.pop(arn, None)
    return call.respond({})


def _tags_of(call):
    state, arn = STATE(call.account, call.region), call.json.get("ResourceArn")
    if arn not in state.connections:
        raise AwsError("ResourceNotFoundException", f"Resource {arn} does not exist")
    return state.tags.setdefault(arn, {})


def list_tags_for_resource(call):
    return call.respond({"Tags": tag_list(dict(sorted(_tags_of(call).items())))})


def tag_resource(call):
    with STATE.lock:
        _tags_of(call).update({t["Key"]: t["Value"] for t in call.json.get("Tags", [])})
    return call.respond({})


def untag_resource(call):
    with STATE.lock:
        tags = _tags_of(call)
        for k in call.json.get("TagKeys", []):
            tags.pop(k, None)
    return call.respond({})


OPERATIONS = {
    "CreateConnection": create_connection, "GetConnection": get_connection, "ListConnections": list_connections,
    "DeleteConnection": delete_connection, "ListTagsForResource": list_tags_for_resource,
    "TagResource": tag_resource, "UntagResource": untag_resource,
}



def unknown_operation(call):
    raise AwsError("UnknownOperationException", f"{call.operation} is not emulated")


DEFAULT = unknown_operation  # moto has no CodeStar Connections to fall back on


def tagged_resources(account, region):
    state = STATE.get(account, region)
    for arn in list(state.connections) if state else []:
        yield "codestar-connections:connection", arn, dict(state.tags.get(arn, {}))


def admin_set_status(emu, data, quoted_arn):
    arn = urllib.parse.unquote(quoted_arn)
    _, region, account, _ = arn_parts(arn)
    state = STATE.get(account, region)
    if not state or arn not in state.connections:
        return 404, {"error": "no such connection"}
    with STATE.lock:
        state.connections[arn]["ConnectionStatus"] = data["status"]
    return {"ok": True}


ADMIN = [("POST", r"^connections/(.+)/status$", admin_set_status)]
