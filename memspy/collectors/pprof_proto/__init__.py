"""pprof's ``profile.proto``, vendored, and the module protoc generates from it.

``profile.proto`` is google/pprof's ``proto/profile.proto`` (commit b9395ee1, Apache-2.0,
``LICENSE`` beside it), unchanged. ``profile_pb2.py`` is generated, never edited: run
``scripts/gen_pprof_proto.sh`` to regenerate it. Only ``load`` imports it, and with it
protobuf, so that formats other than pprof never pay for protobuf.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType

from memspy.errors import MemspyError

# The generated module's own runtime check; pyproject.toml asks for the same.
REQUIREMENT = "protobuf>=6.31.1"


def load() -> ModuleType:
    """The generated module. protobuf missing or older than the generated code is an error
    that says what to install, not a traceback."""
    try:
        return import_module(f"{__name__}.profile_pb2")
    except Exception as error:  # ImportError, or protobuf's own VersionError
        raise MemspyError(
            f"the pprof format needs {REQUIREMENT} ({type(error).__name__}: {error})",
            hint=f"install it: pip install '{REQUIREMENT}'",
        ) from None
