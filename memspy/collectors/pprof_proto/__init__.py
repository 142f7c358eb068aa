"""pprof's ``profile.proto``, vendored, and the module protoc generates from it.

``profile.proto`` is google/pprof's ``proto/profile.proto`` (commit b9395ee1, Apache-2.0,
``LICENSE`` beside it), unchanged. ``profile_pb2.py`` is generated, never edited: run
``scripts/gen_pprof_proto.sh`` to regenerate it. Importing this package imports protobuf, so
only the pprof writer and reader do, when they run.
"""

from memspy.collectors.pprof_proto import profile_pb2

__all__ = ["profile_pb2"]
