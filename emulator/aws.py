"""WSGI middleware in front of moto's server.

For each AWS request it works out the service, operation, region and account (from the SigV4
credential scope and the access key), counts the call, applies the configured latency and any
injected fault, then hands the request to the module in `services/` that emulates or corrects that
service, else to moto. It also serves the admin API (`/_emulator/...`).
"""
import http
import io
import json
import re
import sys
import threading
import time
import urllib.parse
from collections import Counter

import kube
import services
from services import identity, sts
from services.base import AwsError, Call, error_response, json_response, protocol

CRED_RE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
# Web-identity and SAML role assumption are unsigned: the caller has no AWS credentials yet.
UNSIGNED_STS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}
# IAM action prefixes that differ from the signing name.
ACTION_PREFIX = {"tagging": "tag"}


def access_denied_code(service):
    """AWS's authorization failure code and status, as each protocol (and SNS) spells it."""
    if service == "sns":
        return "AuthorizationError", 403
    return {"query": ("AccessDenied", 403), "rest-xml": ("AccessDenied", 403), "ec2": ("UnauthorizedOperation", 403),
            "rest-json": ("AccessDeniedException", 403)}.get(protocol(service), ("AccessDeniedException", 400))


class Emulator:
    def __init__(self, moto_app, account_id, region, kube_server, verbose=False):
        self.moto = moto_app
        self.account = account_id
        self.region = region
        self.kube = kube_server
        self.verbose = verbose
        self.lock = threading.RLock()
        self.state_lock = threading.RLock()
        self.latency = 0.0
        self.faults = []
        self.calls = Counter()
        self.cpu_since = time.process_time()
        own = [("POST", r"^faults$", Emulator.add_fault), ("DELETE", r"^faults$", Emulator.clear_faults),
               ("POST", r"^latency$", Emulator.set_latency), ("GET", r"^calls$", Emulator.get_calls),
               ("DELETE", r"^calls$", Emulator.clear_calls)]
        self.admin_routes = [(m, re.compile(p), h) for m, p, h in own + services.ADMIN + kube.ADMIN]

    # ---------------------------------------------------------------- WSGI entry
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self._respond(start_response, self.admin(environ, path[len("/_emulator/"):]))
        # moto reads the undecoded path from RAW_URI (werkzeug's name); waitress calls it REQUEST_URI.
        environ.setdefault("RAW_URI", environ.get("REQUEST_URI", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        service, region, access_key = self.credential_of(environ, body)
        module = services.BY_SERVICE.get(service)
        op = self.operation_of(service, module, environ, body)
        with self.lock:
            self.calls[f"{service}.{op}"] += 1
            latency = self.latency
            fault = self.take_fault(service, op)
        # Calls overlap in time as on AWS (the latency is outside the lock), but touch the state
        # one at a time: moto's backends are plain dicts, and a create during another call's
        # listing failed with "dictionary changed size during iteration" (a 500 AWS never sends).
        if latency:
            time.sleep(latency)
        with self.state_lock:
            who = identity.resolve(access_key, self.account)
            # moto keeps state per account too: tell it which one this request acts in.
            environ["HTTP_X_MOTO_ACCOUNT_ID"] = who.account
            call = Call(self, environ, body, service, op, region or self.region, access_key, who)
            if self.verbose:
                print(f"{service}.{op} [{who.account} {call.region}]", flush=True, file=sys.stderr)
            if fault:
                return self._respond(start_response, self.fault_response(call, fault))
            handler = module and (module.OPERATIONS.get(op) or getattr(module, "DEFAULT", None))
            result = None
            if handler:
                try:
                    result = handler(call)
                except AwsError as e:
                    result = call.error(e.code, e.message, e.status)
            if result is None:
                # Flask renders the whole body before it returns: the list is complete here.
                return list(self.moto(environ, start_response))
            return self._respond(start_response, result)

    def _respond(self, start_response, result):
        status, headers, body = result
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"] + [("Content-Length", str(len(body)))]
        start_response(f"{status} {http.HTTPStatus(status).phrase}", headers)
        return [body]

    def credential_of(self, environ, body):
        """(signing name, region, access key id) from the SigV4 header or a presigned URL."""
        m = CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if m:
            return m.group(3), m.group(2), m.group(1)
        q = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        parts = q.get("X-Amz-Credential", [""])[0].split("/")
        if len(parts) >= 4:
            return parts[3], parts[2], parts[0]
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
        if form.get("Action", [""])[0] in UNSIGNED_STS:
            return "sts", None, ""
        return "unknown", None, ""

    def operation_of(self, service, module, environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return target.split(".")[-1]
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if protocol(service) in ("query", "ec2"):
            form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
            return (form.get("Action") or query.get("Action") or ["Unknown"])[0]
        if module and hasattr(module, "operation_name"):
            raw = environ.get("RAW_URI", "").split("?")[0] or path
            return module.operation_name(method, raw, query)
        return f"{method} {path}"

    # ---------------------------------------------------------------- faults
    def take_fault(self, service, op):
        for f in self.faults:
            if f["service"] == service and f["operation"] == op and f["count"] != 0:
                if f["count"] > 0:
                    f["count"] -= 1
                return f
        return None

    def fault_response(self, call, fault):
        service, op, kind = call.service, call.operation, fault["kind"]
        if kind == "throttle":
            code = "Throttling" if protocol(service) == "query" else "ThrottlingException"
            return error_response(service, code, "Rate exceeded", 400, call.content_type)
        if kind == "server_error":
            return error_response(service, "InternalFailure", "We encountered an internal error. Please try again.",
                                  500, call.content_type)
        if kind == "not_authorized":
            try:
                req = call.json
            except ValueError:
                req = {}
            if service == "codebuild":
                return call.error("InvalidInputException",
                                  f"CodeBuild is not authorized to perform: sts:AssumeRole on {req.get('serviceRole', '')}")
            if service == "codepipeline":
                role = (req.get("pipeline") or {}).get("roleArn", "")
                return call.error("InvalidStructureException",
                                  f"CodePipeline is not authorized to perform AssumeRole on role {role}")
            return call.error("AccessDeniedException", f"not authorized to perform {op}")
        if kind == "access_denied":
            principal = fault.get("principal") or call.identity.arn
            action = f"{ACTION_PREFIX.get(service, service)}:{op}"
            resource = fault.get("resource") or "*"
            message = f"User: {principal} is not authorized to perform: {action} on resource: {resource}"
            if fault.get("encoded"):
                token = sts.encode_authorization_failure({
                    "allowed": False, "explicitDeny": False, "matchedStatements": {"items": []},
                    "failures": {"items": []},
                    "context": {"principal": {"id": call.identity.user_id, "arn": principal}, "action": action,
                                "resource": resource, "conditions": {"items": []}}})
                message += f" Encoded authorization failure message: {token}"
            code, status = access_denied_code(service)
            return error_response(service, code, message, status, call.content_type)
        return error_response(service, "InternalFailure", f"unknown fault kind {kind}", 500, call.content_type)

    # ---------------------------------------------------------------- admin API
    def admin(self, environ, path):
        method = environ.get("REQUEST_METHOD")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        data = json.loads(raw) if raw else {}
        for m, pattern, handler in self.admin_routes:
            match = pattern.match(path)
            if m == method and match:
                out = handler(self, data, *match.groups())
                status, obj = out if isinstance(out, tuple) else (200, out)
                return json_response(obj, status, "application/json")
        return json_response({"error": f"unknown admin call {method} {path}"}, 404, "application/json")

    def add_fault(self, data):
        fault = {"service": data["service"], "operation": data["operation"], "kind": data["kind"],
                 "count": int(data.get("count", 1))}
        fault.update({k: data[k] for k in ("principal", "resource", "encoded") if k in data})
        with self.lock:
            self.faults.append(fault)
        return {"ok": True}

    def clear_faults(self, data):
        with self.lock:
            self.faults.clear()
        return {"ok": True}

    def set_latency(self, data):
        self.latency = float(data.get("ms", 0)) / 1000.0
        return {"ok": True}

    def get_calls(self, data):
        with self.lock:
            # cpu_ms: the emulator's CPU since the count was reset (it serves one call at a time).
            return {"total": sum(self.calls.values()), "by_operation": dict(self.calls),
                    "cpu_ms": round((time.process_time() - self.cpu_since) * 1000)}

    def clear_calls(self, data):
        with self.lock:
            self.calls.clear()
            self.cpu_since = time.process_time()
        return {"ok": True}

