#!/usr/bin/env bash
# The main job on the embedded emulator: validate -> plan -out -> apply that saved plan -> plan (no
# changes) -> plan --destroy -out -> apply that saved plan, of the seed stack, then a check that
# nothing carrying the stack's tag is left. The plans are saved once and applied exactly.
set -euo pipefail
cd "$(dirname "$0")/.."

STACK=${STACK:-stacks/eks-devops.yaml}
BIN=${BIN:-target/debug/provision}
PY=.venv/bin/python

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# The check section is shown with the first plan; later commands print it again.
no_check() { awk '/Check:.*provision check/ {skip = 1} !skip; skip && /[0-9]+ hops: / {skip = 0; getline}'; }

# Start the emulator (moto + the project's extensions + the EKS/Kubernetes double) on a free port.
ready=$(mktemp)
plans=$(mktemp -d)
"$PY" emulator/run.py --port 0 --cluster eksdemo1 --seed-aws-auth >"$ready" 2>.provision-emulator.log &
emu=$!
trap 'kill $emu 2>/dev/null || true; rm -rf "$ready" "$plans"' EXIT
for _ in $(seq 1 300); do
  grep -q PROVISION_EMULATOR_READY "$ready" && break
  kill -0 $emu 2>/dev/null || { cat .provision-emulator.log; echo "emulator failed to start" >&2; exit 1; }
  sleep 0.1
done
url=$(awk '/PROVISION_EMULATOR_READY/ {print $2}' "$ready")
[ -n "$url" ] || { echo "emulator did not start in 30 s" >&2; exit 1; }
echo "emulator: $url"

# Dummy credentials for the emulator; the real chain (profiles, SSO, IMDS) is not consulted.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$url AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# aws-auth as the cluster has it before we start (its node-role entry must survive every step).
map_roles() { "$PY" -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/_emulator/kube/kube-system/configmaps/aws-auth"))["data"]["mapRoles"], end="")' "$url"; }
before=$(map_roles)

step "provision validate"
"$BIN" validate -s "$STACK"

step "provision plan -out (exit code 2: changes), saved for review"
set +e; "$BIN" plan -s "$STACK" --detailed-exitcode -out "$plans/apply.plan"; code=$?; set -e
[ "$code" -eq 2 ] || { echo "expected exit code 2 from the first plan, got $code" >&2; exit 1; }

step "provision apply FILE: exactly the reviewed plan, no question asked (its notes and outcome)"
# A line when each step starts and ends is what a log gets (a terminal shows spinners): left out.
"$BIN" apply -s "$STACK" "$plans/apply.plan" | no_check | grep -Ev ': ([a-z]+ing\.\.\.|[a-z]+ed after [0-9.]+s)$'

step "aws-auth after apply: the node-role entry is intact, ours is appended"
after=$(map_roles)
echo "$after"
[[ "$after" == "$before"* ]] || { echo "the node-role entries of aws-auth changed" >&2; exit 1; }

step "provision plan (exit code 0: no changes)"
out=$("$BIN" plan -s "$STACK" --detailed-exitcode) || { echo "$out"; echo "second plan reported changes or failed" >&2; exit 1; }
no_check <<<"$out"
grep -q "No changes." <<<"$out" || { echo "second plan did not say 'No changes.'" >&2; exit 1; }

step "provision output ecr_repository.app.uri (what a buildspec would read)"
"$BIN" output -s "$STACK" ecr_repository.app.uri

step "provision plan --destroy -out, then apply FILE (summarised: it is everything above, in reverse)"
"$BIN" plan -s "$STACK" --destroy -out "$plans/destroy.plan" | grep -E '^(.\[1m)?Plan:'
"$BIN" apply -s "$STACK" "$plans/destroy.plan" | grep -E 'complete!|^backup of'

step "aws-auth after destroy: byte for byte what it was"
[[ "$(map_roles)" == "$before" ]] || { echo "aws-auth differs from before apply" >&2; exit 1; }
echo "identical"

step "leftovers: a destroy plan finds nothing the stack still owns (the same inventory every plan takes)"
out=$("$BIN" plan -s "$STACK" --destroy --detailed-exitcode) || { echo "$out"; echo "something the stack owns is left" >&2; exit 1; }
grep -q "No changes." <<<"$out" || { echo "$out"; echo "the destroy plan is not empty" >&2; exit 1; }
echo "none: nothing in the emulator carries provision:stack=$(awk '/^stack:/ {print $2; exit}' "$STACK")"

printf '\n\033[1;32mdemo passed:\033[0m %s planned, applied from a saved plan, re-planned with no changes, destroyed; aws-auth restored byte for byte; nothing left (%ss)\n' "$STACK" "$SECONDS"
