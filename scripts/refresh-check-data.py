#!/usr/bin/env python3
"""Regenerate the data `provision check` bundles (data/*.json) from packages on PyPI.

- data/aws-managed-policies.json: the AWS-managed policies the stacks attach, from the documents
  that moto ships (moto/iam/aws_managed_policies.py, taken from IAM's GetPolicyVersion by moto's
  maintainers). Uses the moto of the project's .venv (make venv).
- data/iam-actions.json: IAM action names of the services provision touches, from awacs (which
  transcribes AWS's Service Authorization Reference), installed from PyPI into a temporary
  virtualenv at the pinned version below.

    python3 scripts/refresh-check-data.py            # both files, in place

Review the diff: a removed action or a changed policy is worth a look.
"""
import datetime
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AWACS = "awacs==2.6.1"
POLICIES = [
    "AdministratorAccess", "AmazonEC2ContainerRegistryFullAccess", "AmazonEC2ContainerRegistryPowerUser",
    "AmazonEKSClusterPolicy", "AmazonS3FullAccess", "AWSCodeBuildAdminAccess", "AWSCodeBuildDeveloperAccess",
    "CloudWatchLogsFullAccess",
]
# IAM prefix -> awacs module.
SERVICES = {
    "sts": "sts", "iam": "iam", "s3": "s3", "ecr": "ecr", "logs": "logs", "codebuild": "codebuild",
    "codepipeline": "codepipeline", "codestar-connections": "codestar_connections",
    "codeconnections": "codeconnections", "sns": "sns", "eks": "eks", "events": "events", "kms": "kms",
    "ssm": "ssm", "secretsmanager": "secretsmanager",
}

MANAGED = r'''
import json, sys
import moto
from moto.iam.aws_managed_policies import aws_managed_policies_data
data = json.loads(aws_managed_policies_data)
out = {}
for name in sys.argv[1:]:
    p = data[name]
    arn = "arn:aws:iam::aws:policy" + p["Path"] + name
    out[arn] = {"version": p["DefaultVersionId"], "updated": p["UpdateDate"], "document": p["Document"]}
print(json.dumps({"moto": moto.__version__, "policies": out}))
'''

ACTIONS = r'''
import importlib, json, sys
from awacs.aws import Action
out = {}
for pair in sys.argv[1:]:
    prefix, module = pair.split("=")
    m = importlib.import_module("awacs." + module)
    out[prefix] = sorted({v.action for v in vars(m).values() if isinstance(v, Action) and v.action and v.action != "*"})
print(json.dumps(out))
'''


def run(python, code, args):
    return json.loads(subprocess.run([str(python), "-c", code, *args], check=True, capture_output=True, text=True).stdout)


def main():
    today = datetime.date.today().isoformat()
    venv_python = ROOT / ".venv" / "bin" / "python"
    managed = run(venv_python, MANAGED, POLICIES)
    (ROOT / "data" / "aws-managed-policies.json").write_text(json.dumps({
        "about": "Default versions of the AWS-managed IAM policies the provision stacks attach. Used by "
                 "`provision check` when the account cannot be read; live documents take precedence.",
        "taken": today,
        "source": f"moto {managed['moto']} (PyPI), moto/iam/aws_managed_policies.py; regenerate with scripts/refresh-check-data.py",
        "policies": managed["policies"],
    }, indent=1, sort_keys=True) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "venv", tmp], check=True)
        py = Path(tmp) / "bin" / "python"
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", AWACS], check=True)
        actions = run(py, ACTIONS, [f"{k}={v}" for k, v in SERVICES.items()])
    (ROOT / "data" / "iam-actions.json").write_text(json.dumps({
        "about": "IAM action names per service prefix, for the unknown-action lint of `provision check`.",
        "taken": today,
        "source": f"{AWACS} (PyPI), which transcribes AWS's Service Authorization Reference; regenerate with scripts/refresh-check-data.py",
        "services": actions,
    }, indent=1, sort_keys=True) + "\n")
    print("wrote data/aws-managed-policies.json and data/iam-actions.json")


if __name__ == "__main__":
    main()
