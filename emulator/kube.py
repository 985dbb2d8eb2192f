"""A Kubernetes API server double for ConfigMaps, with the semantics `provision` relies on.

- HTTPS with a CA generated at start-up (the CA is what EKS DescribeCluster hands out);
- the discovery documents (`/version`, `/api`, `/apis`, `/api/v1`), read-only namespaces and
  `Table` answers, so that a real `kubectl get configmap ...` works against it;
- `resourceVersion` from a global counter, changed by every write;
- PUT with a stale resourceVersion -> 409 Conflict; POST of an existing name -> 409 AlreadyExists;
  missing -> 404 NotFound; Status bodies shaped like the real API server's;
- every request needs `Authorization: Bearer k8s-aws-v1.<base64url presigned STS URL>` that is
  well-formed, names the cluster in a signed `x-k8s-aws-id` header and has not expired -> else 401.
"""
import base64
import copy
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NODE_ROLE_MAPPING = (
    "- groups:\n"
    "  - system:bootstrappers\n"
    "  - system:nodes\n"
    "  rolearn: arn:aws:iam::{account}:role/eksctl-eksdemo1-nodegroup-NodeInstanceRole-1A2B3C\n"
    "  username: system:node:{{{{EC2PrivateDNSName}}}}\n"
)


def make_certs():
    """A CA and a server certificate for 127.0.0.1 / localhost signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provision-emulator-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                          crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pem(ca), pem(cert), key_pem


def status(code, reason, message, name=None, kind="configmaps"):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if name is not None:
        body["details"] = {"name": name, "kind": kind}
    return code, body


class TokenError(Exception):
    pass


def check_token(header, admin_token=None, now=None):
    """Validate an EKS bearer token the way aws-iam-authenticator does (minus calling STS)."""
    if not header or not header.startswith("Bearer "):
        raise TokenError("missing bearer token")
    token = header[len("Bearer "):].strip()
    if admin_token and token == admin_token:
        return "admin"
    prefix = "k8s-aws-v1."
    if not token.startswith(prefix):
        raise TokenError("token is not a k8s-aws-v1 token")
    b64 = token[len(prefix):]
    try:
        url = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).decode()
    except Exception:
        raise TokenError("token is not valid base64url")
    parsed = urllib.parse.urlparse(url)
    q = {k.lower(): v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
    if q.get("action") != "GetCallerIdentity" or q.get("version") != "2011-06-15":
        raise TokenError("token is not a presigned GetCallerIdentity request")
    for p in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-expires",
              "x-amz-signedheaders", "x-amz-signature"):
        if p not in q:
            raise TokenError(f"token lacks {p}")
    if "x-k8s-aws-id" not in q["x-amz-signedheaders"].split(";"):
        raise TokenError("token does not sign the x-k8s-aws-id header")
    try:
        signed = datetime.datetime.strptime(q["x-amz-date"], "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        expires = int(q["x-amz-expires"])
    except ValueError:
        raise TokenError("token has a malformed date or expiry")
    now = time.time() if now is None else now
    if signed > now + 300:
        raise TokenError("token is dated in the future")
    if now > signed + min(expires, 900):
        raise TokenError("token has expired")
    return q["x-amz-credential"].split("/")[0]


class Store:
    """ConfigMaps by (namespace, name), with a global resourceVersion counter."""

    def __init__(self):
        self.lock = threading.RLock()
        self.objects = {}
        self.rv = 1000
        self.interleave = {}  # (ns, name) -> [GETs to let pass first, text appended to mapRoles]
        self.writes = 0
        self.conflicts = 0

    def _bump(self, obj):
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.writes += 1

    def get(self, ns, name):
        with self.lock:
            o = self.objects.get((ns, name))
            return copy.deepcopy(o) if o else None

    def create(self, ns, obj):
        with self.lock:
            name = obj.get("metadata", {}).get("name")
            if not name:
                return status(422, "Invalid", "ConfigMap \"\" is invalid: metadata.name: Required value")
            if (ns, name) in self.objects:
                self.conflicts += 1
                return status(409, "AlreadyExists", f'configmaps "{name}" already exists', name)
            obj = copy.deepcopy(obj)
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", "ConfigMap")
            md = obj.setdefault("metadata", {})
            md["namespace"] = ns
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._bump(obj)
            self.objects[(ns, name)] = obj
            return 201, copy.deepcopy(obj)

    def replace(self, ns, name, obj, check_version=True):
        with self.lock:
            cur = self.objects.get((ns, name))
            if cur is None:
                return status(404, "NotFound", f'configmaps "{name}" not found', name)
            rv = obj.get("metadata", {}).get("resourceVersion")
            if check_version and rv and rv != cur["metadata"]["resourceVersion"]:
                self.conflicts += 1
                return status(409, "Conflict",
                              f'Operation cannot be fulfilled on configmaps "{name}": the object has been '
                              "modified; please apply your changes to the latest version and try again", name)
            new = copy.deepcopy(obj)
            new.setdefault("apiVersion", "v1")
            new.setdefault("kind", "ConfigMap")
            md = new.setdefault("metadata", {})
            for k in ("uid", "creationTimestamp", "namespace", "name"):
                md[k] = cur["metadata"].get(k)
            self._bump(new)
            self.objects[(ns, name)] = new
            return 200, copy.deepcopy(new)

    def patch(self, ns, name, patch):
        with self.lock:
            cur = self.objects.get((ns, name))
            if cur is None:
                return status(404, "NotFound", f'configmaps "{name}" not found', name)
            rv = patch.get("metadata", {}).get("resourceVersion") if isinstance(patch, dict) else None
            if rv and rv != cur["metadata"]["resourceVersion"]:
                return status(409, "Conflict", f'Operation cannot be fulfilled on configmaps "{name}": the object '
                              "has been modified; please apply your changes to the latest version and try again", name)
            new = merge_patch(copy.deepcopy(cur), patch)
            self._bump(new)
            self.objects[(ns, name)] = new
            return 200, copy.deepcopy(new)

    def delete(self, ns, name):
        with self.lock:
            cur = self.objects.pop((ns, name), None)
            if cur is None:
                return status(404, "NotFound", f'configmaps "{name}" not found', name)
            self.writes += 1
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": {"name": name, "kind": "configmaps", "uid": cur["metadata"]["uid"]}}

    def after_get(self, ns, name):
        """Simulate a concurrent writer right after a client read (admin `interleave`)."""
        with self.lock:
            pending = self.interleave.get((ns, name))
            cur = self.objects.get((ns, name))
            if pending is None or cur is None:
                return
            if pending[0] > 0:
                pending[0] -= 1
                return
            extra = self.interleave.pop((ns, name))[1]
            data = cur.setdefault("data", {})
            roles = data.get("mapRoles", "")
            if roles and not roles.endswith("\n"):
                roles += "\n"
            data["mapRoles"] = roles + extra
            self._bump(cur)


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


# Legacy (unaggregated) discovery, what kubectl and client-go read before any request: clients that
# ask for aggregated discovery (apidiscovery.k8s.io/v2) fall back to it when the answer is plain JSON.
CONFIGMAPS = {"name": "configmaps", "singularName": "configmap", "namespaced": True, "kind": "ConfigMap",
              "verbs": ["create", "delete", "get", "list", "patch", "update"], "shortNames": ["cm"]}
STARTED = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
NAMESPACES = {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
              "verbs": ["get", "list"], "shortNames": ["ns"]}
DISCOVERY = {
    "/version": lambda host: {"major": "1", "minor": "32", "gitVersion": "v1.32.0-eks-emulator",
                              "gitTreeState": "clean", "goVersion": "go1.22.5", "compiler": "gc",
                              "platform": "linux/amd64", "buildDate": "2024-08-01T00:00:00Z"},
    "/api": lambda host: {"kind": "APIVersions", "versions": ["v1"],
                          "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]},
    "/apis": lambda host: {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": lambda host: {"kind": "APIResourceList", "groupVersion": "v1", "resources": [CONFIGMAPS, NAMESPACES]},
}


def namespaces(store, name):
    """Read-only namespaces: the built-in ones and any holding a ConfigMap (kubectl looks a
    namespace up to word its NotFound errors)."""
    with store.lock:
        names = sorted(set(BUILTIN_NAMESPACES) | {ns for ns, _ in store.objects})
    items = [{"apiVersion": "v1", "kind": "Namespace",
              "metadata": {"name": n, "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, n)), "resourceVersion": "1",
                           "creationTimestamp": STARTED, "labels": {"kubernetes.io/metadata.name": n}},
              "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}} for n in names]
    if name is None:
        return 200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
    found = [i for i in items if i["metadata"]["name"] == name]
    if not found:
        return status(404, "NotFound", f'namespaces "{name}" not found', name, "namespaces")
    return 200, found[0]


def age(created, now=None):
    """The API server's short duration format (`45s`, `3m12s`, `5h`, `2d`)."""
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    s = max(0, int((time.time() if now is None else now) - then))
    if s < 120:
        return f"{s}s"
    if s < 600:
        return f"{s // 60}m{s % 60}s" if s % 60 else f"{s // 60}m"
    if s < 3 * 3600:
        return f"{s // 60}m"
    if s < 2 * 86400:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def table(objects, rv):
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": str(rv)},
        "columnDefinitions": [
            {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
            {"name": "Data", "type": "integer", "format": "", "description": "Number of keys in the ConfigMap.", "priority": 0},
            {"name": "Age", "type": "string", "format": "", "description": "Time since creation.", "priority": 0},
        ],
        "rows": [{"cells": [o["metadata"]["name"], len(o.get("data") or {}), age(o["metadata"]["creationTimestamp"])],
                  "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}
                 for o in objects],
    }


class KubeServer:
    """The HTTPS server; one per emulator, shared by every registered cluster."""

    def __init__(self, host, admin_token=None):
        self.store = Store()
        self.admin_token = admin_token
        self.ca_pem, cert_pem, key_pem = make_certs()
        self._files = tempfile.TemporaryDirectory(prefix="provision-kube-")
        cert_file = f"{self._files.name}/tls.crt"
        key_file = f"{self._files.name}/tls.key"
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with open(key_file, "wb") as f:
            f.write(key_pem)
        server = self
        handler = type("Handler", (KubeHandler,), {"server_state": server})
        self.httpd = ThreadingHTTPServer((host, 0), handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_file, key_file)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def seed_aws_auth(self, account):
        self.store.create("kube-system", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": NODE_ROLE_MAPPING.format(account=account), "mapUsers": "[]\n"},
        })


class KubeHandler(BaseHTTPRequestHandler):
    server_state = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    def _handle(self, method):
        st = self.server_state
        try:
            check_token(self.headers.get("Authorization"), st.admin_token)
        except TokenError as e:
            return self._send(*status(401, "Unauthorized", f"Unauthorized: {e}"))
        path = urllib.parse.urlparse(self.path).path.rstrip("/")
        if method == "GET" and path in DISCOVERY:
            return self._send(200, DISCOVERY[path](self.headers.get("Host", "")))
        parts = path.strip("/").split("/")
        store = st.store
        if parts == ["api", "v1", "configmaps"] and method == "GET":
            return self._send_list(None)
        if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 4 and method == "GET":
            return self._send(*namespaces(store, parts[3] if len(parts) == 4 else None))
        # api/v1/namespaces/{ns}/configmaps[/{name}]
        if len(parts) < 5 or parts[:2] != ["api", "v1"] or parts[2] != "namespaces" or parts[4] != "configmaps":
            return self._send(*status(404, "NotFound", "the server could not find the requested resource"))
        ns = parts[3]
        name = parts[5] if len(parts) > 5 else None
        if name is None:
            if method == "GET":
                return self._send_list(ns)
            if method == "POST":
                return self._send(*store.create(ns, self._body()))
            return self._send(*status(405, "MethodNotAllowed", "method not allowed"))
        if method == "GET":
            o = store.get(ns, name)
            if o is None:
                return self._send(*status(404, "NotFound", f'configmaps "{name}" not found', name))
            self._send(200, table([o], store.rv) if self._wants_table() else o)
            store.after_get(ns, name)
            return None
        if method == "PUT":
            return self._send(*store.replace(ns, name, self._body()))
        if method == "PATCH":
            return self._send(*store.patch(ns, name, self._body()))
        if method == "DELETE":
            return self._send(*store.delete(ns, name))
        return self._send(*status(405, "MethodNotAllowed", "method not allowed"))

    def _wants_table(self):
        """kubectl's human-readable output asks the server for a meta.k8s.io Table."""
        return "as=Table" in (self.headers.get("Accept") or "")

    def _send_list(self, ns):
        store = self.server_state.store
        with store.lock:
            items = [copy.deepcopy(o) for (n, _), o in sorted(store.objects.items()) if ns is None or n == ns]
            rv = store.rv
        if self._wants_table():
            return self._send(200, table(items, rv))
        return self._send(200, {"kind": "ConfigMapList", "apiVersion": "v1",
                                "metadata": {"resourceVersion": str(rv)}, "items": items})

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")


# ---------------------------------------------------------------- admin API (`/_emulator/kube/...`)
def admin_get_configmap(emu, data, ns, name):
    o = emu.kube.store.get(ns, name)
    return (200, o) if o else (404, None)


def admin_put_configmap(emu, data, ns, name):
    """Create or replace, ignoring resourceVersion: a hand edit behind every client's back."""
    store = emu.kube.store
    obj = data if "metadata" in data else {"metadata": {"name": name}, "data": data.get("data", {})}
    obj.setdefault("metadata", {})["name"] = name
    if store.get(ns, name) is None:
        return store.create(ns, obj)[1]
    obj["metadata"].pop("resourceVersion", None)
    return store.replace(ns, name, obj, check_version=False)[1]


def admin_delete_configmap(emu, data, ns, name):
    emu.kube.store.delete(ns, name)
    return {"ok": True}


def admin_interleave(emu, data):
    store = emu.kube.store
    with store.lock:
        store.interleave[(data.get("namespace", "kube-system"), data.get("name", "aws-auth"))] = \
            [int(data.get("skip_gets", 0)), data["map_roles_append"]]
    return {"ok": True}


def admin_writes(emu, data):
    return {"writes": emu.kube.store.writes, "conflicts": emu.kube.store.conflicts}


ADMIN = [
    ("GET", r"^kube/([^/]+)/configmaps/([^/]+)$", admin_get_configmap),
    ("PUT", r"^kube/([^/]+)/configmaps/([^/]+)$", admin_put_configmap),
    ("DELETE", r"^kube/([^/]+)/configmaps/([^/]+)$", admin_delete_configmap),
    ("POST", r"^kube/interleave$", admin_interleave),
    ("GET", r"^kube/writes$", admin_writes),
]
