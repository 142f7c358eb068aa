#!/usr/bin/env bash
# Smoke-profile the bundled demo through the installed `memspy` command, check the profile
# against speedscope's schema, read it back with `memspy report` and print the summary.
# Bounded by `timeout`: a profile that cannot be taken fails with a message, never hangs CI.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

timeout 120 memspy record --rate 200 -o "$out/smoke.speedscope.json" --summary "$out/smoke.md" \
    -- python3 -m memspy.demo --seconds 2 \
    || { echo "smoke: memspy record failed (exit $?)"; exit 1; }
python3 - "$out/smoke.speedscope.json" <<'PY'
import json, sys
from tests.schema import speedscope_errors
profile = json.load(open(sys.argv[1]))
errors = speedscope_errors(profile)
if errors:
    sys.exit("smoke: the profile fails speedscope's schema: %s" % errors[:3])
samples = sum(len(p.get("samples", [])) for p in profile["profiles"])
print("smoke: speedscope profile valid, %d profiles, %d sample runs" % (len(profile["profiles"]), samples))
PY
timeout 60 memspy report -f json "$out/smoke.speedscope.json" > "$out/report.json" \
    || { echo "smoke: memspy report failed (exit $?)"; exit 1; }
python3 - "$out/report.json" <<'PY'
import json, sys
names = {f["name"] for f in json.load(open(sys.argv[1]))["by_total"]}
if not {"heavy", "light"} <= names:
    sys.exit("smoke: memspy report does not list the demo's heavy() and light(): %s" % names)
print("smoke: memspy report reads the profile back")
PY
echo "--- summary ---"
cat "$out/smoke.md"
