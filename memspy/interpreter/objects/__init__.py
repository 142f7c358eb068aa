"""Python objects decoded from a target's memory, whatever their kind: strings and bytes
(``strings``, what a stack needs), dicts, ints and attributes (``containers``), bounded
text for any object (``values``) and the variables of a frame (``variables``).

Part of ``interpreter``, with its imports.
"""
