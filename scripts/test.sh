#!/usr/bin/env bash
# Install memspy with its test extras and the real consumers the tests check output with,
# then run the whole suite. This is the README's test command and what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install -q -e '.[test]'

# Optional tools: each test that needs one skips, with a reason, where it is missing.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    command -v bpftrace >/dev/null || missing+=(bpftrace)
    command -v go >/dev/null || missing+=(golang-go)
    command -v tmux >/dev/null || missing+=(tmux)
    if [ ${#missing[@]} -gt 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") \
            >/tmp/memspy-apt.log 2>&1 || echo "test.sh: could not install ${missing[*]} (see /tmp/memspy-apt.log)"
    fi
    mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
if command -v npm >/dev/null && [ ! -d "$(npm root -g 2>/dev/null)/speedscope" ]; then
    npm install -g --silent speedscope@1.25.0 >/dev/null 2>&1 || echo "test.sh: could not install speedscope"
fi

python3 -m pytest -q -rs "$@"
