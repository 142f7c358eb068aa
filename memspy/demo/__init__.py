"""A small workload to profile: ``python -m memspy.demo``."""
