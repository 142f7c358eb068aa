"""One thread busy in a pure-Python loop a few frames deep (under ten in all)."""

from _common import forever, nest, say

if __name__ == "__main__":
    say("ready")
    nest(5, forever)
