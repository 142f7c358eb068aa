#!/usr/bin/env bash
# Regenerate memspy/collectors/pprof_proto/profile_pb2.py from the vendored profile.proto.
#
# grpcio-tools is pinned: its protoc decides the protobuf runtime the generated module
# demands (1.75.1 -> protobuf >= 6.31.1, checked when the module is imported), and that
# bound is the one in pyproject.toml. Change both together. A throwaway venv keeps the
# tool out of the environment memspy runs in.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCIO_TOOLS=grpcio-tools==1.75.1
HERE=memspy/collectors/pprof_proto

venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install -q "$GRPCIO_TOOLS"
"$venv/bin/python" -m grpc_tools.protoc -I "$HERE" --python_out="$HERE" "$HERE/profile.proto"
echo "wrote $HERE/profile_pb2.py with $GRPCIO_TOOLS"
