"""CodeBuild projects, all of them (moto has no UpdateProject); builds and reports stay with moto."""
import json
import urllib.parse

from .base import AwsError, PerRegion, now_epoch

SERVICE = "codebuild"


class State:
    def __init__(self):
        self.projects = {}  # name -> Project


STATE = PerRegion(State)


def _name_of(name_or_arn):
    """Project operations take a name or, like the Terraform provider sends, an ARN."""
    if name_or_arn.startswith("arn:") and ":project/" in name_or_arn:
        return name_or_arn.split(":project/", 1)[1]
    return name_or_arn


def _find(state, name_or_arn):
    p = state.projects.get(_name_of(name_or_arn))
    if p and (not name_or_arn.startswith("arn:") or p["arn"] == name_or_arn):
        return p
    return None


def _check_role(account, role_arn):
    """Like CodeBuild: the service role must exist and trust codebuild.amazonaws.com."""
    from moto.iam.models import iam_backends
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
        doc = json.loads(urllib.parse.unquote(role.assume_role_policy_document))
        stmts = doc.get("Statement", [])
        services = []
        for s in stmts if isinstance(stmts, list) else [stmts]:
            svc = (s.get("Principal") or {}).get("Service", [])
            services += svc if isinstance(svc, list) else [svc]
        if "codebuild.amazonaws.com" in services:
            return
    except Exception:
        pass
    raise AwsError("InvalidInputException", f"CodeBuild is not authorized to perform: sts:AssumeRole on {role_arn}")


def create_project(call):
    req, region, account = call.json, call.region, call.account
    name = req.get("name", "")
    arn = f"arn:aws:codebuild:{region}:{account}:project/{name}"
    for field in ("source", "artifacts", "environment", "serviceRole"):
        if field not in req:
            raise AwsError("InvalidInputException", f"Invalid input: {field} is required")
    state = STATE(account, region)
    if name in state.projects:
        raise AwsError("ResourceAlreadyExistsException", f"Project already exists: {arn}")
    _check_role(account, req["serviceRole"])
    t = now_epoch()
    project = dict(req)
    project.update({"arn": arn, "created": t, "lastModified": t,
                    "encryptionKey": f"arn:aws:kms:{region}:{account}:alias/aws/s3",
                    "timeoutInMinutes": req.get("timeoutInMinutes", 60),
                    "queuedTimeoutInMinutes": req.get("queuedTimeoutInMinutes", 480),
                    "tags": req.get("tags", []), "badge": {"badgeEnabled": False}})
    with STATE.lock:
        if name in state.projects:
            raise AwsError("ResourceAlreadyExistsException", f"Project already exists: {arn}")
        state.projects[name] = project
    return call.respond({"project": project})


def update_project(call):
    req = call.json
    state = STATE(call.account, call.region)
    cur = _find(state, req.get("name", ""))
    if cur is None:
        raise AwsError("ResourceNotFoundException", f"Failed to find project: {req.get('name', '')}")
    if "serviceRole" in req:
        _check_role(call.account, req["serviceRole"])
    with STATE.lock:
        cur.update({k: v for k, v in req.items() if k != "name"})
        cur["lastModified"] = now_epoch()
    return call.respond({"project": cur})


def batch_get_projects(call):
    names = call.json.get("names", [])
    if not 1 <= len(names) <= 100:
        raise AwsError("InvalidInputException",
                       "1 validation error detected: Value at 'names' failed to satisfy constraint: "
                       "Member must have length less than or equal to 100 and greater than or equal to 1")
    state = STATE(call.account, call.region)
    found, missing = [], []
    for n in names:
        p = _find(state, n)
        if p:
            found.append(p)
        else:
            missing.append(n)
    return call.respond({"projects": found, "projectsNotFound": missing})


def list_projects(call):
    req = call.json
    key = {"CREATED_TIME": "created", "LAST_MODIFIED_TIME": "lastModified"}.get(req.get("sortBy"), "name")
    projects = sorted(STATE(call.account, call.region).projects.values(), key=lambda p: p[key],
                      reverse=req.get("sortOrder") == "DESCENDING")
    start = int(req.get("nextToken") or 0)
    page = projects[start:start + 100]
    out = {"projects": [p["name"] for p in page]}
    if start + 100 < len(projects):
        out["nextToken"] = str(start + 100)
    return call.respond(out)


def delete_project(call):
    state = STATE(call.account, call.region)
    with STATE.lock:
        p = _find(state, call.json.get("name", ""))
        if p:
            del state.projects[p["name"]]
    return call.respond({})


OPERATIONS = {
    "CreateProject": create_project, "UpdateProject": update_project, "BatchGetProjects": batch_get_projects,
    "ListProjects": list_projects, "DeleteProject": delete_project,
}


def tagged_resources(account, region):
    state = STATE.get(account, region)
    for p in list(state.projects.values()) if state else []:
        yield "codebuild:project", p["arn"], {t["key"]: t.get("value", "") for t in p.get("tags", [])}
