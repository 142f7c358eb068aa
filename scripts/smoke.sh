#!/usr/bin/env bash
# Smoke-profile the bundled demo through the installed `memspy` command, check the profile
# against speedscope's schema and print the summary. Bounded by `timeout`: a profile that
# cannot be taken fails with a message, never hangs CI.
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
echo "--- summary ---"
cat "$out/smoke.md"
