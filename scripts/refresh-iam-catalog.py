#!/usr/bin/env python3
"""Regenerate data/iam-actions.json from AWS's programmatic Service Authorization Reference.

Usage (needs network access to servicereference.us-east-1.amazonaws.com; standard library only):

    python3 scripts/refresh-iam-catalog.py                 # the default services, in place
    python3 scripts/refresh-iam-catalog.py --services sts,iam,ec2 --out /tmp/iam-actions.json

The index https://servicereference.us-east-1.amazonaws.com/v1/service-list.json lists
{"service": PREFIX, "url": ...} entries; each service file has "Actions": [{"Name": ...}, ...].
The output keeps the shape `src/check/catalog.rs` reads: {"about", "taken", "source", "services":
{PREFIX: [sorted action names]}}. Exit status: 0 written, 1 a service is missing from the index,
2 network or format error.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import urllib.request
from pathlib import Path

INDEX = "https://servicereference.us-east-1.amazonaws.com/v1/service-list.json"
DEFAULT_SERVICES = [
    "sts", "iam", "s3", "ecr", "logs", "codebuild", "codepipeline", "codestar-connections",
    "codeconnections", "sns", "eks", "events", "kms", "ssm", "secretsmanager",
]
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "iam-actions.json"


def get(url: str):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", default=",".join(DEFAULT_SERVICES), help="comma-separated service prefixes")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--index", default=INDEX, help="the service-list URL (for a mirror or a test server)")
    args = ap.parse_args()
    wanted = [s.strip() for s in args.services.split(",") if s.strip()]
    try:
        index = {e["service"]: e["url"] for e in get(args.index)}
        missing = [s for s in wanted if s not in index]
        if missing:
            print(f"not in the service reference: {', '.join(missing)}", file=sys.stderr)
            return 1
        services = {}
        for s in wanted:
            doc = get(index[s])
            services[s] = sorted({a["Name"] for a in doc.get("Actions", [])})
            print(f"{s}: {len(services[s])} actions", file=sys.stderr)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = {
        "about": "IAM action names per service prefix, for the unknown-action lint of `provision check`. "
                 "Regenerate with scripts/refresh-iam-catalog.py.",
        "taken": datetime.date.today().isoformat(),
        "source": f"AWS Service Authorization Reference, programmatic form ({args.index})",
        "services": services,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
