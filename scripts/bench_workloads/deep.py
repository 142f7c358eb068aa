"""The shallow loop under 200 frames of recursion: the cost of walking a long stack."""

from _common import forever, nest, say

if __name__ == "__main__":
    say("ready")
    nest(200, forever)
