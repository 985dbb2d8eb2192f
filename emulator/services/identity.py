"""Who signed a request: the account and principal behind an access key id.

The emulator serves several accounts at once. A key maps to an account (and principal) by, in order:
an admin mapping (`POST /_emulator/accounts`), a session from our GetSessionToken, a role session
from moto's AssumeRole (the role's account, as on AWS), an IAM user's access key; any other key is
the default account's IAM user `moto`.
"""
import threading
from dataclasses import dataclass

from .base import AwsError

LOCK = threading.RLock()
KEYS = {}         # access key id -> Identity, from the admin API
SESSIONS = {}     # access key id -> Identity, from sts:GetSessionToken
MFA_KEYS = set()  # role-session access key ids whose AssumeRole passed an MFA check
MFA_CODES = {}    # MFA device serial number -> the code that is currently valid


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    user_id: str
    # aws:MultiFactorAuthPresent: None when absent (long-term keys), else whether MFA was used.
    mfa: bool | None = None
    # For a role session, the role's IAM ARN (what trust policies name).
    role_arn: str | None = None


def default_identity(account):
    return Identity(account, f"arn:aws:iam::{account}:user/moto", "AIDAEMULATORUSERMOTO")


def resolve(access_key, default_account):
    with LOCK:
        found = KEYS.get(access_key) or SESSIONS.get(access_key)
    if found:
        return found
    # Only moto-minted keys (ASIA... sessions, AKIA... user keys) can be in moto: skip the lookup
    # (and moto's imports) for the dummy keys tests use.
    if access_key[:4] in ("ASIA", "AKIA"):
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends
        for account, per_account in list(sts_backends.items()):
            for backend in list(per_account.values()):
                role = backend.get_assumed_role_from_access_key(access_key)
                if role:
                    return Identity(role.account_id, role.arn, role.user_id, access_key in MFA_KEYS, role.role_arn)
        for account, per_account in list(iam_backends.items()):
            for backend in list(per_account.values()):
                user = backend.get_user_from_access_key_id(access_key)
                if user:
                    return Identity(user.account_id, user.arn, user.id)
    return default_identity(default_account)


def check_mfa(serial, code):
    """True when a valid MFA code came with the request, False when none did; a wrong code, an
    unknown device or half of the pair is AccessDenied, as on STS."""
    if not serial and not code:
        return False
    with LOCK:
        valid = MFA_CODES.get(serial)
    if not code or valid is None or valid != code:
        raise AwsError("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.", 403)
    return True


def admin_map_key(emu, data):
    account = str(data["account_id"])
    arn = data.get("arn") or f"arn:aws:iam::{account}:user/moto"
    with LOCK:
        KEYS[data["access_key_id"]] = Identity(account, arn, data.get("user_id") or "AIDAEMULATORUSERMOTO")
    return {"ok": True}


def admin_set_mfa(emu, data):
    with LOCK:
        MFA_CODES[data["serial"]] = str(data["code"])
    return {"ok": True}


ADMIN = [
    ("POST", r"^accounts$", admin_map_key),
    ("POST", r"^mfa$", admin_set_mfa),
]
