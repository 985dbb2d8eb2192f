"""CodePipeline corrections over moto: timestamps as epoch numbers (AWS JSON protocols send
numbers; moto sends ISO strings, which the Go SDK cannot parse), `{}` for empty answers, a
trust check that accepts a list of service principals, and AWS's error for a name in use."""
import datetime
import json
import threading
import urllib.parse

from .base import AwsError, Response, moto_backend

SERVICE = "codepipeline"
_patched = threading.Event()
# The name check and the create are one step, so that of two racing creates exactly one wins.
CREATE_LOCK = threading.Lock()


def _patch_trust_check():
    """moto's CodePipeline reads a trust policy's `Principal.Service` only as a string; IAM also
    allows a list (`"Service": ["codepipeline.amazonaws.com"]`). Give its check one statement per
    service so both spellings are accepted, as AWS does."""
    if _patched.is_set():
        return
    import types
    import moto.codepipeline.models as cp_models

    def loads(text, *args, **kwargs):
        doc = json.loads(urllib.parse.unquote(text) if text.startswith("%7B") else text, *args, **kwargs)
        if isinstance(doc, dict):
            stmts = doc.get("Statement", [])
            flat = []
            for st in stmts if isinstance(stmts, list) else [stmts]:
                principal = st.get("Principal")
                svc = principal.get("Service") if isinstance(principal, dict) else None
                if isinstance(svc, list):
                    flat += [dict(st, Principal=dict(principal, Service=one)) for one in svc]
                elif isinstance(svc, str):
                    flat.append(st)
            doc["Statement"] = flat
        return doc

    cp_models.json = types.SimpleNamespace(loads=loads, dumps=json.dumps)
    _patched.set()


def _epoch(value):
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value


def epoch_timestamps(value, shape):
    """Rewrite every timestamp member of `value` (shaped by the botocore `shape`) as epoch seconds."""
    if value is None:
        return value
    kind = shape.type_name
    if kind == "timestamp":
        return _epoch(value)
    if kind == "structure" and isinstance(value, dict):
        return {k: epoch_timestamps(v, shape.members[k]) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [epoch_timestamps(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: epoch_timestamps(v, shape.value) for k, v in value.items()}
    return value


def through_moto(call):
    if call.operation in ("CreatePipeline", "UpdatePipeline"):
        _patch_trust_check()
    resp = call.moto()
    if resp.status >= 300:
        return resp
    if not resp.body.strip():
        return Response(resp.status, resp.headers, b"{}")
    from moto.core.utils import get_service_model
    model = get_service_model("codepipeline")
    if call.operation not in model.operation_names:
        return resp
    body = json.loads(resp.body)
    shape = model.operation_model(call.operation).output_shape
    return Response(resp.status, resp.headers, json.dumps(epoch_timestamps(body, shape)).encode())


def create_pipeline(call):
    """A taken name is PipelineNameInUseException on AWS (moto says InvalidStructureException)."""
    from moto.codepipeline.models import codepipeline_backends
    name = (call.json.get("pipeline") or {}).get("name")
    with CREATE_LOCK:
        backend = moto_backend(codepipeline_backends, call.account, call.region)
        if backend and name in backend.pipelines:
            raise AwsError("PipelineNameInUseException",
                           f"A pipeline with the name '{name}' already exists in account '{call.account}'")
        return through_moto(call)


def get_pipeline(call):
    """A plan reads every pipeline: answered from moto's pipeline directly, skipping moto's web
    stack and a JSON round trip; an unknown name or a version is left to moto."""
    from moto.codepipeline.models import codepipeline_backends
    backend = moto_backend(codepipeline_backends, call.account, call.region)
    found = backend.pipelines.get(call.json.get("name")) if backend else None
    if found is None or "version" in call.json:
        return None
    from moto.core.utils import get_service_model
    shape = get_service_model("codepipeline").operation_model("GetPipeline").output_shape
    return call.respond(epoch_timestamps({"pipeline": found.pipeline, "metadata": found.metadata}, shape))


OPERATIONS = {"CreatePipeline": create_pipeline, "GetPipeline": get_pipeline}
DEFAULT = through_moto


def tagged_resources(account, region):
    from moto.codepipeline.models import codepipeline_backends
    backend = moto_backend(codepipeline_backends, account, region)
    for p in list(backend.pipelines.values()) if backend else []:
        yield "codepipeline:pipeline", p.metadata["pipelineArn"], dict(p.tags)
