"""STS over moto: AssumeRole checks the role's trust policy (moto admits anyone, even for roles that
do not exist) and MFA; GetSessionToken mints credentials tied to the caller (moto hands everyone the
same fixed keys); GetCallerIdentity answers for the signing key in whichever account it belongs to;
DecodeAuthorizationMessage decodes the messages of `access_denied` faults. AssumeRoleWithWebIdentity
stays moto's (credentials for the role, no token validation)."""
import datetime
import fnmatch
import json
import re
import secrets
import string
import threading
import urllib.parse

from . import identity
from .base import AwsError, query_response

SERVICE = "sts"
ENCODED = {}  # encoded authorization failure message -> its decoded JSON
_lock = threading.Lock()


def _random(prefix, n, alphabet=string.ascii_uppercase + string.digits):
    return prefix + "".join(secrets.choice(alphabet) for _ in range(n))


def encode_authorization_failure(decoded):
    """An opaque token standing for `decoded`, which DecodeAuthorizationMessage gives back."""
    token = _random("", 256, string.ascii_letters + string.digits + "-_")
    with _lock:
        ENCODED[token] = json.dumps(decoded, separators=(",", ":"))
    return token


def _denied(caller, role_arn):
    return AwsError("AccessDenied",
                    f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", 403)


def _as_list(v):
    return v if isinstance(v, list) else [] if v is None else [v]


def _principal_matches(principal, caller):
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in _as_list(principal.get("AWS")):
        if value == "*" or value == caller.account or value == f"arn:aws:iam::{caller.account}:root":
            return True
        if value in (caller.arn, caller.role_arn):
            return True
    return False


def _action_matches(stmt):
    actions = _as_list(stmt.get("Action"))
    if "NotAction" in stmt:
        return not any(fnmatch.fnmatchcase("sts:assumerole", a.lower()) for a in _as_list(stmt["NotAction"]))
    return any(fnmatch.fnmatchcase("sts:assumerole", a.lower()) for a in actions)


def _condition_holds(operator, key, expected, context):
    """The operators trust policies use; an absent key fails the test unless the operator ends in
    IfExists (then it passes), as IAM evaluates them."""
    if_exists = operator.endswith("IfExists")
    op = operator[:-len("IfExists")] if if_exists else operator
    actual, expected = context.get(key.lower()), [str(e) for e in _as_list(expected)]
    if op == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    if actual is None:
        return if_exists or op.startswith("StringNot")
    if op == "Bool":
        return str(actual).lower() in [e.lower() for e in expected]
    if op == "StringEquals":
        return actual in expected
    if op == "StringNotEquals":
        return actual not in expected
    if op == "StringLike":
        return any(fnmatch.fnmatchcase(actual, e) for e in expected)
    if op == "StringNotLike":
        return not any(fnmatch.fnmatchcase(actual, e) for e in expected)
    return False  # an operator the emulator does not know admits no one


def trust_admits(document, caller, context):
    doc = json.loads(urllib.parse.unquote(document) if document.lstrip().startswith("%") else document)
    allowed = False
    for stmt in _as_list(doc.get("Statement")):
        if not (_principal_matches(stmt.get("Principal"), caller) and _action_matches(stmt)):
            continue
        if not all(_condition_holds(op, k, v, context)
                   for op, pairs in (stmt.get("Condition") or {}).items() for k, v in pairs.items()):
            continue
        if stmt.get("Effect") == "Deny":
            return False
        allowed = allowed or stmt.get("Effect") == "Allow"
    return allowed


def assume_role(call):
    from moto.iam.models import iam_backends
    form, caller = call.form, call.identity
    role_arn = form.get("RoleArn", "")
    mfa = identity.check_mfa(form.get("SerialNumber"), form.get("TokenCode"))
    m = re.match(r"^arn:aws:iam::(\d{12}):role/", role_arn)
    try:
        role = iam_backends[m.group(1)]["aws"].get_role_by_arn(role_arn) if m else None
    except Exception:
        role = None
    if role is None:
        raise _denied(caller, role_arn)
    context = {"aws:multifactorauthpresent": "true" if mfa else (None if caller.mfa is None else str(caller.mfa).lower()),
               "sts:externalid": form.get("ExternalId"), "aws:principalaccount": caller.account,
               "aws:principalarn": caller.arn, "sts:rolesessionname": form.get("RoleSessionName")}
    if not trust_admits(role.assume_role_policy_document, caller, context):
        raise _denied(caller, role_arn)
    duration = int(form.get("DurationSeconds", 3600))
    if duration > int(role.max_session_duration or 3600):
        raise AwsError("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    resp = call.moto()
    key = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", resp.body)
    if resp.status == 200 and key and (mfa or caller.mfa):
        with identity.LOCK:
            identity.MFA_KEYS.add(key.group(1).decode())
    return resp


def get_session_token(call):
    form, caller = call.form, call.identity
    if caller.role_arn or call.access_key in identity.SESSIONS:
        raise AwsError("AccessDenied", "Cannot call GetSessionToken with session credentials", 403)
    duration = int(form.get("DurationSeconds", 43200))
    if not 900 <= duration <= 129600:
        raise AwsError("ValidationError", "1 validation error detected: Value at 'durationSeconds' failed to satisfy "
                       "constraint: Member must have value between 900 and 129600")
    mfa = identity.check_mfa(form.get("SerialNumber"), form.get("TokenCode"))
    key = _random("ASIA", 16)
    with identity.LOCK:
        identity.SESSIONS[key] = identity.Identity(caller.account, caller.arn, caller.user_id, mfa)
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=duration)
    return query_response("sts", "GetSessionToken", {"Credentials": {
        "AccessKeyId": key, "SecretAccessKey": _random("", 40, string.ascii_letters + string.digits),
        "SessionToken": _random("FwoGZXIvYXdzE", 200, string.ascii_letters + string.digits), "Expiration": expires}})


def get_caller_identity(call):
    who = call.identity
    return query_response("sts", "GetCallerIdentity", {"UserId": who.user_id, "Account": who.account, "Arn": who.arn})


def decode_authorization_message(call):
    with _lock:
        decoded = ENCODED.get(call.form.get("EncodedMessage", ""))
    if decoded is None:
        raise AwsError("InvalidAuthorizationMessageException", "The message is invalid or not from this account.")
    return query_response("sts", "DecodeAuthorizationMessage", {"DecodedMessage": decoded})


OPERATIONS = {
    "AssumeRole": assume_role, "GetSessionToken": get_session_token, "GetCallerIdentity": get_caller_identity,
    "DecodeAuthorizationMessage": decode_authorization_message,
}
