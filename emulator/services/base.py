"""What every emulated service shares: the parsed request, AWS-shaped errors and responses, and
state kept per account and region, as AWS keeps it."""
import datetime
import functools
import io
import json
import threading
import time
import urllib.parse
import uuid
from typing import NamedTuple

# The wire protocol of each service this project touches; the rest speak AWS JSON 1.0/1.1.
PROTOCOLS = {"iam": "query", "sts": "query", "sns": "query", "ec2": "ec2", "s3": "rest-xml", "eks": "rest-json"}


def protocol(service):
    return PROTOCOLS.get(service, "json")


class Response(NamedTuple):
    status: int
    headers: list
    body: bytes


class AwsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def xml_escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def error_response(service, code, message, status, content_type=None):
    """An error body each protocol's SDK parser reads into the right code and message."""
    proto, msg, rid = protocol(service), xml_escape(message), str(uuid.uuid4())
    if proto == "query":
        kind = "Sender" if status < 500 else "Receiver"
        body = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{msg}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>")
        return Response(status, [("Content-Type", "text/xml")], body.encode())
    if proto == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{msg}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>")
        return Response(status, [("Content-Type", "text/xml")], body.encode())
    if proto == "rest-xml":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{msg}</Message>"
                f"<RequestId>{rid}</RequestId></Error>")
        return Response(status, [("Content-Type", "application/xml")], body.encode())
    if proto == "rest-json":
        return Response(status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)],
                        json.dumps({"message": message}).encode())
    return Response(status, [("Content-Type", content_type or "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)],
                    json.dumps({"__type": code, "message": message}).encode())


def json_response(obj, status=200, content_type="application/x-amz-json-1.1"):
    return Response(status, [("Content-Type", content_type)], json.dumps(obj).encode())


def query_response(service, operation, result):
    """A query-protocol (IAM, STS, SNS) XML answer of `result`, shaped by botocore's service model:
    element names, list and map wrappers, timestamps. Written here rather than through moto's
    serializer, which costs about ten times as much CPU and the emulator serves one call at a time."""
    from moto.core.utils import get_service_model
    model = get_service_model(service)
    shape = model.operation_model(operation).output_shape
    out = [f'<{operation}Response xmlns="{model.metadata.get("xmlNamespace", "")}">']
    if shape is not None:
        wrapper = shape.serialization.get("resultWrapper", f"{operation}Result")
        out.append(f"<{wrapper}>")
        _xml_members(out, result, shape)
        out.append(f"</{wrapper}>")
    out.append(f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{operation}Response>")
    return Response(200, [("Content-Type", "text/xml")], "".join(out).encode())


def rest_xml_response(service, operation, payload):
    """A REST-XML (S3) answer whose body is the operation's payload member, shaped like
    `query_response`."""
    from moto.core.utils import get_service_model
    model = get_service_model(service)
    shape = model.operation_model(operation).output_shape
    member = shape.members[shape.serialization["payload"]]
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    _xml(out, member.serialization.get("name", member.name), payload, member,
         f' xmlns="{model.metadata.get("xmlNamespace", "")}"')
    return Response(200, [("Content-Type", "application/xml")], "".join(out).encode())


def _xml_members(out, value, shape):
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _xml(out, member.serialization.get("name", name), value[name], member)


def _xml(out, tag, value, shape, attrs=""):
    kind = shape.type_name
    if kind == "structure":
        out.append(f"<{tag}{attrs}>")
        _xml_members(out, value, shape)
        out.append(f"</{tag}>")
    elif kind == "list":
        item = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for v in value:
                _xml(out, tag, v, shape.member)
        else:
            out.append(f"<{tag}>")
            for v in value:
                _xml(out, item, v, shape.member)
            out.append(f"</{tag}>")
    elif kind == "map":
        key, val = shape.key.serialization.get("name", "key"), shape.value.serialization.get("name", "value")
        out.append(f"<{tag}>")
        for k, v in value.items():
            out.append(f"<entry><{key}>{xml_escape(k)}</{key}>")
            _xml(out, val, v, shape.value)
            out.append("</entry>")
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{xml_escape(_scalar(value, kind))}</{tag}>")


def _scalar(value, kind):
    if kind == "boolean" or isinstance(value, bool):
        return "true" if value in (True, "true", "True") else "false"
    if kind == "timestamp" and isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if kind == "timestamp" and isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def now_epoch():
    return time.time()


class Call:
    """One AWS request, as the middleware parsed it."""

    def __init__(self, emulator, environ, body, service, operation, region, access_key, identity):
        self.emulator, self.environ, self.body = emulator, environ, body
        self.service, self.operation, self.region = service, operation, region
        self.access_key, self.identity = access_key, identity  # who signed it (services.identity)
        self.account = identity.account

    @functools.cached_property
    def json(self):
        return json.loads(self.body) if self.body else {}

    @functools.cached_property
    def form(self):
        """Query-protocol parameters (body and URL), first value of each."""
        params = urllib.parse.parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if self.body and self.environ.get("REQUEST_METHOD") == "POST":
            params.update(urllib.parse.parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True))
        return {k: v[0] for k, v in params.items()}

    @functools.cached_property
    def query(self):
        return urllib.parse.parse_qs(self.environ.get("QUERY_STRING", ""), keep_blank_values=True)

    @property
    def method(self):
        return self.environ.get("REQUEST_METHOD", "GET")

    @property
    def path(self):
        """The path as sent (percent-escapes kept: EKS puts ARNs in path segments)."""
        return self.environ.get("RAW_URI", "").split("?")[0] or self.environ.get("PATH_INFO", "")

    @property
    def content_type(self):
        """What a JSON answer is labelled: REST services say application/json, the others echo
        the request's AWS JSON version."""
        if protocol(self.service) == "rest-json":
            return "application/json"
        return self.environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"

    def respond(self, obj, status=200):
        """A JSON answer in the request's own JSON version."""
        return json_response(obj, status, self.content_type)

    def error(self, code, message, status=400):
        return error_response(self.service, code, message, status, self.content_type)

    def moto(self, body=None, query_string=None):
        """Let moto serve this request (optionally with a rewritten body or query); returns its Response."""
        environ = dict(self.environ)
        if query_string is not None:
            environ["QUERY_STRING"] = query_string
        data = self.body if body is None else body
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _: None

        out = b"".join(self.emulator.moto(environ, start_response))
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        return Response(int(captured["status"].split()[0]), headers, out)


class PerRegion:
    """A service's state, one instance per (account, region), created on first use."""

    def __init__(self, factory):
        self.factory = factory
        self.lock = threading.RLock()
        self.states = {}

    def __call__(self, account, region):
        with self.lock:
            key = (account, region)
            if key not in self.states:
                self.states[key] = self.factory()
            return self.states[key]

    def get(self, account, region):
        """The state if it exists (reads must not create state)."""
        return self.states.get((account, region))


def arn_parts(arn):
    """(service, region, account, resource) of an ARN, or Nones."""
    p = (arn or "").split(":", 5)
    return (p[2], p[3], p[4], p[5]) if len(p) == 6 and p[0] == "arn" else (None, None, None, None)


def moto_backend(backends, account, region):
    """The moto backend of an account and region if it was ever used, without creating one."""
    per_account = dict.get(backends, account)
    return dict.get(per_account, region) if per_account is not None else None


def tag_list(tags):
    return [{"Key": k, "Value": v} for k, v in tags.items()]
