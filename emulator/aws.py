"""WSGI middleware in front of moto's server.

It adds what `provision` needs and moto lacks, with AWS's request/response shapes and error codes:
CodeStar Connections, a complete CodeBuild project API (moto has no UpdateProject), EKS clusters backed
by the Kubernetes double and EKS access entries, e-mail SNS subscriptions that stay pending until
confirmed; and the test knobs: per-request latency, injected faults, call counts.
"""
import base64
import datetime
import io
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections import Counter

JSON_SERVICES = {"ecr", "codebuild", "codepipeline", "codestar-connections"}
QUERY_SERVICES = {"iam", "sts", "sns"}
CRED_RE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")


def patch_moto():
    """moto's CodePipeline reads a trust policy's `Principal.Service` only as a string; IAM also
    allows a list (`"Service": ["codepipeline.amazonaws.com"]`). Give its check one statement per
    service so both spellings are accepted, as AWS does."""
    import types
    import moto.codepipeline.models as cp_models

    def loads(text, *args, **kwargs):
        doc = json.loads(urllib.parse.unquote(text) if text.startswith("%7B") else text, *args, **kwargs)
        if isinstance(doc, dict):
            stmts = doc.get("Statement", [])
            stmts = stmts if isinstance(stmts, list) else [stmts]
            flat = []
            for st in stmts:
                svc = (st.get("Principal") or {}).get("Service") if isinstance(st.get("Principal"), dict) else None
                if isinstance(svc, list):
                    flat += [dict(st, Principal=dict(st["Principal"], Service=one)) for one in svc]
                elif isinstance(svc, str):
                    flat.append(st)
            doc["Statement"] = flat
        return doc

    cp_models.json = types.SimpleNamespace(loads=loads, dumps=json.dumps)


def now_epoch():
    return time.time()


class AwsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def error_response(service, code, message, status):
    """An error body the Rust SDK parses into the right code, per protocol."""
    if service in QUERY_SERVICES:
        kind = "Sender" if status < 500 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
        return status, [("Content-Type", "text/xml")], body.encode()
    if service == "s3":
        body = f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        return status, [("Content-Type", "application/xml")], body.encode()
    if service == "eks":
        return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)], \
            json.dumps({"message": message}).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)], \
        json.dumps({"__type": code, "message": message}).encode()


def json_response(obj, status=200, content_type="application/x-amz-json-1.1"):
    return status, [("Content-Type", content_type)], json.dumps(obj).encode()


S3_SUBRESOURCES = ["tagging", "encryption", "publicAccessBlock", "versioning", "versions", "delete",
                   "location", "policy", "acl", "uploads", "list-type"]


def s3_operation(method, path, query):
    parts = [p for p in path.split("/") if p]
    keys = set(query)
    if not parts:
        return "ListBuckets"
    sub = next((s for s in S3_SUBRESOURCES if s in keys), None)
    if len(parts) == 1:
        names = {
            ("HEAD", None): "HeadBucket", ("PUT", None): "CreateBucket", ("DELETE", None): "DeleteBucket",
            ("GET", None): "ListObjects", ("GET", "list-type"): "ListObjectsV2",
            ("GET", "versions"): "ListObjectVersions", ("POST", "delete"): "DeleteObjects",
            ("GET", "location"): "GetBucketLocation",
        }
        if (method, sub) in names:
            return names[(method, sub)]
        if sub:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, method)
            return f"{verb}Bucket{sub[0].upper()}{sub[1:]}"
        return f"{method}Bucket"
    return {"GET": "GetObject", "PUT": "PutObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, method)


EKS_ROUTES = [
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


def eks_route(method, path):
    raw = path
    for m, pattern, name in EKS_ROUTES:
        if m == method:
            mt = re.match(pattern, raw)
            if mt:
                return name, [urllib.parse.unquote(g) for g in mt.groups()]
    return f"{method} {path}", []


class Emulator:
    def __init__(self, moto_app, account_id, region, kube, verbose=False):
        self.moto = moto_app
        self.account = account_id
        self.region = region
        self.kube = kube
        self.verbose = verbose
        self.lock = threading.RLock()
        self.latency = 0.0
        self.faults = []
        self.calls = Counter()
        self.connections = {}      # arn -> dict
        self.conn_tags = {}        # arn -> {k: v}
        self.projects = {}         # name -> dict (CodeBuild)
        self.clusters = {}         # name -> {"mode": .., "arn": .., "created": ..}
        self.access_entries = {}   # (cluster, principal) -> dict
        self.access_policies = {}  # (cluster, principal) -> {policyArn: dict}
        self.eks_tags = {}         # arn -> {k: v}
        self.pending_subs = set()  # SNS subscription ARNs awaiting e-mail confirmation
        self.confirmed_subs = set()  # ... and those confirmed through the admin API

    # ---------------------------------------------------------------- WSGI entry
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            status, headers, body = self.admin(environ, path[len("/_emulator/"):])
            return self._respond(start_response, status, headers, body)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        service, region = self.service_of(environ)
        op = self.operation_of(service, environ, body)
        with self.lock:
            self.calls[f"{service}.{op}"] += 1
            latency = self.latency
            fault = self.take_fault(service, op)
        if latency:
            time.sleep(latency)
        if self.verbose:
            print(f"{service}.{op}", flush=True, file=__import__("sys").stderr)
        if fault:
            return self._respond(start_response, *self.fault_response(service, op, fault, body))
        handler = {
            "codestar-connections": self.connections_api,
            "codebuild": self.codebuild_api,
            "eks": self.eks_api,
        }.get(service)
        if handler:
            try:
                result = handler(op, environ, body, region or self.region)
            except AwsError as e:
                result = error_response(service, e.code, e.message, e.status)
            if result is not None:
                return self._respond(start_response, *result)
        if service == "sns":
            return self.sns_passthrough(op, environ, body, start_response)
        if service == "ecr":
            self.ecr_defaults(op, environ, body)
        if service == "s3" and op == "GetBucketVersioning":
            return self.s3_versioning(environ, start_response)
        return self.moto(environ, start_response)

    def s3_versioning(self, environ, start_response):
        """moto names the root element GetBucketVersioningResponse; S3 says VersioningConfiguration."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        text = b"".join(self.moto(environ, capture)).decode()
        text = text.replace("GetBucketVersioningResponse", "VersioningConfiguration")
        data = text.encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(data)))])
        return [data]

    def ecr_defaults(self, op, environ, body):
        """AWS SDKs leave out members equal to their default (`scanOnPush: false`); AWS reads an absent
        member as the default, moto as "no change". Fill it in before moto sees the request."""
        if op not in ("PutImageScanningConfiguration", "CreateRepository") or not body:
            return
        req = json.loads(body)
        conf = req.get("imageScanningConfiguration")
        if isinstance(conf, dict) and "scanOnPush" not in conf:
            conf["scanOnPush"] = False
            new = json.dumps(req).encode()
            environ["wsgi.input"] = io.BytesIO(new)
            environ["CONTENT_LENGTH"] = str(len(new))

    def _respond(self, start_response, status, headers, body):
        reason = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
                  409: "Conflict", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Status")
        headers = list(headers) + [("Content-Length", str(len(body)))]
        start_response(f"{status} {reason}", headers)
        return [body]

    def service_of(self, environ):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = CRED_RE.search(auth)
        if m:
            return m.group(2), m.group(1)
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        cred = q.get("X-Amz-Credential", [""])[0]
        parts = cred.split("/")
        if len(parts) >= 4:
            return parts[3], parts[2]
        return "unknown", None

    def operation_of(self, service, environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.split(".")[-1]
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if service in QUERY_SERVICES:
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
            return (form.get("Action") or query.get("Action") or ["Unknown"])[0]
        if service == "s3":
            return s3_operation(method, path, query)
        if service == "eks":
            return eks_route(method, environ.get("RAW_URI", "").split("?")[0] or path)[0]
        return f"{method} {path}"

    # ---------------------------------------------------------------- faults
    def take_fault(self, service, op):
        for f in self.faults:
            if f["service"] == service and f["operation"] == op and f["count"] != 0:
                if f["count"] > 0:
                    f["count"] -= 1
                return f
        return None

    def fault_response(self, service, op, fault, body):
        kind = fault["kind"]
        if kind == "throttle":
            code = "Throttling" if service in QUERY_SERVICES else "ThrottlingException"
            return error_response(service, code, "Rate exceeded", 400)
        if kind == "server_error":
            return error_response(service, "InternalFailure", "We encountered an internal error. Please try again.", 500)
        if kind == "not_authorized":
            try:
                req = json.loads(body) if body else {}
            except ValueError:
                req = {}
            if service == "codebuild":
                return error_response(service, "InvalidInputException",
                                      f"CodeBuild is not authorized to perform: sts:AssumeRole on {req.get('serviceRole', '')}", 400)
            if service == "codepipeline":
                role = (req.get("pipeline") or {}).get("roleArn", "")
                return error_response(service, "InvalidStructureException",
                                      f"CodePipeline is not authorized to perform AssumeRole on role {role}", 400)
            return error_response(service, "AccessDeniedException", f"not authorized to perform {op}", 400)
        return error_response(service, "InternalFailure", f"unknown fault kind {kind}", 500)

    # ---------------------------------------------------------------- admin API
    def admin(self, environ, path):
        method = environ.get("REQUEST_METHOD")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        data = json.loads(raw) if raw else {}
        ok = lambda obj=None: json_response(obj if obj is not None else {"ok": True}, 200, "application/json")
        with self.lock:
            if path == "faults" and method == "POST":
                self.faults.append({"service": data["service"], "operation": data["operation"],
                                    "kind": data["kind"], "count": int(data.get("count", 1))})
                return ok()
            if path == "faults" and method == "DELETE":
                self.faults.clear()
                return ok()
            if path == "latency" and method == "POST":
                self.latency = float(data.get("ms", 0)) / 1000.0
                return ok()
            if path == "calls" and method == "GET":
                return ok({"total": sum(self.calls.values()), "by_operation": dict(self.calls)})
            if path == "calls" and method == "DELETE":
                self.calls.clear()
                return ok()
            if path == "clusters" and method == "POST":
                self.register_cluster(data["name"], data.get("authentication_mode", "API_AND_CONFIG_MAP"))
                return ok()
            if path == "sns/confirm" and method == "POST":
                return ok({"confirmed": self.confirm_subscription(data["topic_arn"], data["endpoint"])})
            m = re.match(r"^connections/(.+)/status$", path)
            if m and method == "POST":
                arn = urllib.parse.unquote(m.group(1))
                if arn not in self.connections:
                    return json_response({"error": "no such connection"}, 404, "application/json")
                self.connections[arn]["ConnectionStatus"] = data["status"]
                return ok()
        m = re.match(r"^kube/([^/]+)/configmaps/([^/]+)$", path)
        if m:
            ns, name = m.groups()
            store = self.kube.store
            if method == "GET":
                o = store.get(ns, name)
                return json_response(o, 200 if o else 404, "application/json")
            if method == "PUT":
                obj = data if "metadata" in data else {"metadata": {"name": name}, "data": data.get("data", {})}
                obj.setdefault("metadata", {})["name"] = name
                if store.get(ns, name) is None:
                    code, o = store.create(ns, obj)
                else:
                    obj["metadata"].pop("resourceVersion", None)
                    code, o = store.replace(ns, name, obj, check_version=False)
                return json_response(o, 200, "application/json")
            if method == "DELETE":
                store.delete(ns, name)
                return ok()
        if path == "kube/interleave" and method == "POST":
            with self.kube.store.lock:
                self.kube.store.interleave[(data.get("namespace", "kube-system"), data.get("name", "aws-auth"))] = \
                    [int(data.get("skip_gets", 0)), data["map_roles_append"]]
            return ok()
        if path == "kube/writes" and method == "GET":
            return ok({"writes": self.kube.store.writes, "conflicts": self.kube.store.conflicts})
        return json_response({"error": f"unknown admin call {method} {path}"}, 404, "application/json")

    # ---------------------------------------------------------------- CodeStar Connections
    def connections_api(self, op, environ, body, region):
        req = json.loads(body) if body else {}
        ct = "application/x-amz-json-1.0"
        if op == "CreateConnection":
            name = req.get("ConnectionName", "")
            if not name or len(name) > 32:
                raise AwsError("ValidationException", "ConnectionName must be 1-32 characters")
            provider = req.get("ProviderType")
            if not provider and not req.get("HostArn"):
                raise AwsError("ValidationException", "ProviderType or HostArn is required")
            arn = f"arn:aws:codestar-connections:{region}:{self.account}:connection/{uuid.uuid4()}"
            with self.lock:
                self.connections[arn] = {
                    "ConnectionName": name, "ConnectionArn": arn, "ProviderType": provider or "GitHubEnterpriseServer",
                    "OwnerAccountId": self.account, "ConnectionStatus": "PENDING",
                    **({"HostArn": req["HostArn"]} if req.get("HostArn") else {}),
                }
                self.conn_tags[arn] = {t["Key"]: t["Value"] for t in req.get("Tags", [])}
            return json_response({"ConnectionArn": arn, "Tags": req.get("Tags", [])}, content_type=ct)
        if op == "GetConnection":
            c = self.connections.get(req.get("ConnectionArn"))
            if not c:
                raise AwsError("ResourceNotFoundException", f"Connection {req.get('ConnectionArn')} does not exist")
            return json_response({"Connection": c}, content_type=ct)
        if op == "ListConnections":
            items = [c for c in self.connections.values()
                     if (not req.get("ProviderTypeFilter") or c["ProviderType"] == req["ProviderTypeFilter"])
                     and (not req.get("HostArnFilter") or c.get("HostArn") == req["HostArnFilter"])]
            start = int(req.get("NextToken") or 0)
            size = int(req.get("MaxResults") or 50)
            page = items[start:start + size]
            out = {"Connections": page}
            if start + size < len(items):
                out["NextToken"] = str(start + size)
            return json_response(out, content_type=ct)
        if op == "DeleteConnection":
            with self.lock:
                if self.connections.pop(req.get("ConnectionArn"), None) is None:
                    raise AwsError("ResourceNotFoundException", f"Connection {req.get('ConnectionArn')} does not exist")
                self.conn_tags.pop(req.get("ConnectionArn"), None)
            return json_response({}, content_type=ct)
        arn = req.get("ResourceArn")
        if op in ("ListTagsForResource", "TagResource", "UntagResource"):
            if arn not in self.connections:
                raise AwsError("ResourceNotFoundException", f"Resource {arn} does not exist")
            with self.lock:
                tags = self.conn_tags.setdefault(arn, {})
                if op == "TagResource":
                    tags.update({t["Key"]: t["Value"] for t in req.get("Tags", [])})
                elif op == "UntagResource":
                    for k in req.get("TagKeys", []):
                        tags.pop(k, None)
                return json_response({"Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
                                     if op == "ListTagsForResource" else {}, content_type=ct)
        raise AwsError("UnknownOperationException", f"{op} is not emulated")

    # ---------------------------------------------------------------- CodeBuild
    def _check_codebuild_role(self, role_arn):
        """Like CodeBuild: the service role must exist and trust codebuild.amazonaws.com."""
        from moto.iam.models import iam_backends
        try:
            role = iam_backends[self.account]["aws"].get_role_by_arn(role_arn)
            doc = json.loads(urllib.parse.unquote(role.assume_role_policy_document))
            stmts = doc.get("Statement", [])
            stmts = stmts if isinstance(stmts, list) else [stmts]
            services = []
            for s in stmts:
                svc = (s.get("Principal") or {}).get("Service", [])
                services += svc if isinstance(svc, list) else [svc]
            if "codebuild.amazonaws.com" in services:
                return
        except Exception:
            pass
        raise AwsError("InvalidInputException", f"CodeBuild is not authorized to perform: sts:AssumeRole on {role_arn}")

    def codebuild_api(self, op, environ, body, region):
        req = json.loads(body) if body else {}
        if op == "CreateProject":
            name = req.get("name", "")
            arn = f"arn:aws:codebuild:{region}:{self.account}:project/{name}"
            for field in ("source", "artifacts", "environment", "serviceRole"):
                if field not in req:
                    raise AwsError("InvalidInputException", f"Invalid input: {field} is required")
            with self.lock:
                if name in self.projects:
                    raise AwsError("ResourceAlreadyExistsException", f"Project already exists: {arn}")
            self._check_codebuild_role(req["serviceRole"])
            t = now_epoch()
            project = dict(req)
            project.update({"arn": arn, "created": t, "lastModified": t,
                            "encryptionKey": f"arn:aws:kms:{region}:{self.account}:alias/aws/s3",
                            "timeoutInMinutes": req.get("timeoutInMinutes", 60),
                            "queuedTimeoutInMinutes": req.get("queuedTimeoutInMinutes", 480),
                            "tags": req.get("tags", []), "badge": {"badgeEnabled": False}})
            with self.lock:
                self.projects[name] = project
            return json_response({"project": project})
        if op == "UpdateProject":
            name = req.get("name", "")
            with self.lock:
                cur = self.projects.get(name)
            if cur is None:
                raise AwsError("ResourceNotFoundException", f"Failed to find project: {name}")
            if "serviceRole" in req:
                self._check_codebuild_role(req["serviceRole"])
            with self.lock:
                for k, v in req.items():
                    if k != "name":
                        cur[k] = v
                cur["lastModified"] = now_epoch()
            return json_response({"project": cur})
        if op == "BatchGetProjects":
            names = req.get("names", [])
            found = [self.projects[n] for n in names if n in self.projects]
            found += [p for p in self.projects.values() if p["arn"] in names]
            missing = [n for n in names if n not in self.projects and not any(p["arn"] == n for p in self.projects.values())]
            return json_response({"projects": found, "projectsNotFound": missing})
        if op == "ListProjects":
            return json_response({"projects": sorted(self.projects)})
        if op == "DeleteProject":
            with self.lock:
                self.projects.pop(req.get("name", ""), None)
            return json_response({})
        return None  # builds, reports...: moto

    # ---------------------------------------------------------------- EKS
    def register_cluster(self, name, mode="API_AND_CONFIG_MAP"):
        with self.lock:
            self.clusters[name] = {
                "mode": mode, "created": now_epoch(),
                "arn": f"arn:aws:eks:{self.region}:{self.account}:cluster/{name}",
            }

    def _cluster(self, name):
        c = self.clusters.get(name)
        if not c:
            raise AwsError("ResourceNotFoundException", f"No cluster found for name: {name}.", 404)
        return c

    def _entry(self, cluster, principal):
        e = self.access_entries.get((cluster, principal))
        if not e:
            raise AwsError("ResourceNotFoundException",
                           f"The specified access entry resource can't be found for principal {principal}.", 404)
        return e

    def eks_api(self, op, environ, body, region):
        path = environ.get("RAW_URI", "").split("?")[0] or environ.get("PATH_INFO", "")
        name, args = eks_route(environ.get("REQUEST_METHOD"), path)
        req = json.loads(body) if body else {}
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        ct = "application/json"
        if name == "DescribeCluster":
            if args[0] not in self.clusters:
                return None  # clusters made through moto's CreateCluster
            c = self.clusters[args[0]]
            return json_response({"cluster": {
                "name": args[0], "arn": c["arn"], "createdAt": c["created"], "version": "1.31",
                "endpoint": self.kube.url, "roleArn": f"arn:aws:iam::{self.account}:role/eksClusterRole",
                "status": "ACTIVE", "platformVersion": "eks.10",
                "certificateAuthority": {"data": base64.b64encode(self.kube.ca_pem).decode()},
                "accessConfig": {"authenticationMode": c["mode"], "bootstrapClusterCreatorAdminPermissions": True},
                "tags": self.eks_tags.get(c["arn"], {}),
            }}, content_type=ct)
        if name in ("ListClusters", "CreateCluster", "DeleteCluster"):
            return None
        if name in ("TagResource", "ListTagsForResource", "UntagResource"):
            arn = args[0]
            known = arn in {c["arn"] for c in self.clusters.values()} or \
                arn in {e["accessEntryArn"] for e in self.access_entries.values()}
            if not known:
                return None
            with self.lock:
                tags = self.eks_tags.setdefault(arn, {})
                if name == "TagResource":
                    tags.update(req.get("tags", {}))
                elif name == "UntagResource":
                    for k in query.get("tagKeys", []):
                        tags.pop(k, None)
                return json_response({"tags": dict(tags)} if name == "ListTagsForResource" else {}, content_type=ct)
        cluster = self._cluster(args[0])
        if cluster["mode"] == "CONFIG_MAP":
            raise AwsError("InvalidRequestException",
                           "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.")
        with self.lock:
            if name == "CreateAccessEntry":
                principal = req.get("principalArn", "")
                if (args[0], principal) in self.access_entries:
                    raise AwsError("ResourceInUseException", f"The specified access entry resource is already in use on this cluster.", 409)
                self._validate_entry(req)
                role = principal.split("/")[-1]
                entry = {
                    "clusterName": args[0], "principalArn": principal,
                    "kubernetesGroups": req.get("kubernetesGroups", []),
                    "accessEntryArn": f"arn:aws:eks:{self.region}:{self.account}:access-entry/{args[0]}/role/{self.account}/{role}/{uuid.uuid4().hex[:16]}",
                    "createdAt": now_epoch(), "modifiedAt": now_epoch(),
                    "tags": req.get("tags", {}),
                    "username": req.get("username") or f"arn:aws:sts::{self.account}:assumed-role/{role}/{{{{SessionName}}}}",
                    "type": req.get("type", "STANDARD"),
                }
                self.access_entries[(args[0], principal)] = entry
                self.eks_tags[entry["accessEntryArn"]] = dict(req.get("tags", {}))
                return json_response({"accessEntry": entry}, content_type=ct)
            if name == "ListAccessEntries":
                return json_response({"accessEntries": sorted(p for (c, p) in self.access_entries if c == args[0])},
                                     content_type=ct)
            entry = self._entry(args[0], args[1])
            key = (args[0], args[1])
            if name == "DescribeAccessEntry":
                out = dict(entry)
                out["tags"] = self.eks_tags.get(entry["accessEntryArn"], {})
                return json_response({"accessEntry": out}, content_type=ct)
            if name == "UpdateAccessEntry":
                self._validate_entry(req)
                for k in ("kubernetesGroups", "username"):
                    if k in req:
                        entry[k] = req[k]
                entry["modifiedAt"] = now_epoch()
                return json_response({"accessEntry": entry}, content_type=ct)
            if name == "DeleteAccessEntry":
                self.access_entries.pop(key, None)
                self.access_policies.pop(key, None)
                self.eks_tags.pop(entry["accessEntryArn"], None)
                return json_response({}, content_type=ct)
            policies = self.access_policies.setdefault(key, {})
            if name == "AssociateAccessPolicy":
                arn = req.get("policyArn", "")
                if not arn.startswith("arn:aws:eks::aws:cluster-access-policy/"):
                    raise AwsError("InvalidParameterException", f"The policy {arn} is not a valid access policy.")
                scope = req.get("accessScope", {"type": "cluster"})
                t = now_epoch()
                prev = policies.get(arn)
                policies[arn] = {"policyArn": arn, "accessScope": scope,
                                 "associatedAt": prev["associatedAt"] if prev else t, "modifiedAt": t}
                return json_response({"clusterName": args[0], "principalArn": args[1],
                                      "associatedAccessPolicy": policies[arn]}, content_type=ct)
            if name == "ListAssociatedAccessPolicies":
                return json_response({"clusterName": args[0], "principalArn": args[1],
                                      "associatedAccessPolicies": list(policies.values())}, content_type=ct)
            if name == "DisassociateAccessPolicy":
                policies.pop(args[2], None)
                return json_response({}, content_type=ct)
        raise AwsError("InvalidRequestException", f"{name} is not emulated", 400)

    def _validate_entry(self, req):
        for g in req.get("kubernetesGroups", []):
            if g.startswith("system:"):
                raise AwsError("InvalidParameterException",
                               f"The kubernetes group name {g} is invalid, it cannot start with system:")
        u = req.get("username")
        if u and u.startswith("system:"):
            raise AwsError("InvalidParameterException", f"The username {u} is invalid, it cannot start with system:")

    # ---------------------------------------------------------------- SNS
    def sns_passthrough(self, op, environ, body, start_response):
        """moto confirms e-mail subscriptions at once; AWS keeps them pending until the recipient clicks."""
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        out = b"".join(self.moto(environ, capture))
        text = out.decode("utf-8", "replace")
        if op == "Subscribe" and captured["status"].startswith("200"):
            proto = form.get("Protocol", [""])[0]
            if proto in ("email", "email-json"):
                m = re.search(r"<SubscriptionArn>([^<]+)</SubscriptionArn>", text)
                if m:
                    arn = m.group(1)
                    with self.lock:
                        if arn not in self.confirmed_subs:
                            self.pending_subs.add(arn)
                    if arn in self.pending_subs and form.get("ReturnSubscriptionArn", ["false"])[0] != "true":
                        text = text.replace(arn, "pending confirmation")
        elif op in ("ListSubscriptionsByTopic", "ListSubscriptions"):
            for arn in list(self.pending_subs):
                text = text.replace(f"<SubscriptionArn>{arn}</SubscriptionArn>",
                                    "<SubscriptionArn>PendingConfirmation</SubscriptionArn>")
        elif op == "Unsubscribe":
            arn = form.get("SubscriptionArn", [""])[0]
            with self.lock:
                self.pending_subs.discard(arn)
        data = text.encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(data))))
        start_response(captured["status"], headers)
        return [data]

    def confirm_subscription(self, topic_arn, endpoint):
        from moto.sns.models import sns_backends
        backend = sns_backends[self.account][self.region]
        for arn, sub in backend.subscriptions.items():
            if sub.topic.arn == topic_arn and sub.endpoint == endpoint and arn in self.pending_subs:
                self.pending_subs.discard(arn)
                self.confirmed_subs.add(arn)
                return True
        return False
