"""``diff``'s comparison: shares, not weights, and growth named before shrinkage."""

from __future__ import annotations

import json

from memspy.collectors.stacks import FrameKey
from memspy.readers.profile import LoadedProfile
from memspy.reports.diff import compare, regressions, render


def _profile(unit: str, **own: float) -> LoadedProfile:
    profile = LoadedProfile("p", "collapsed", unit)
    for name, weight in own.items():
        profile.add((FrameKey("main", "m.py", 1), FrameKey(name, "m.py", 2)), weight)
    return profile


def test_growth_first_shrinkage_last_and_units_do_not_matter():
    base = _profile("samples", heavy=70, light=30)
    head = _profile("seconds", heavy=0.4, light=0.5, new=0.1)  # 10x fewer, other unit
    changes = compare(base, head)
    assert [(c.name, round(c.delta * 100)) for c in changes] == [
        ("light", 20), ("new", 10), ("heavy", -30)
    ]


def test_unchanged_functions_are_left_out():
    assert compare(_profile("samples", a=1, b=1), _profile("samples", a=5, b=5)) == []
    assert "no function's share changed" in render([], "text", "own", 10)


def test_threshold_in_percentage_points():
    changes = compare(_profile("samples", heavy=70, light=30), _profile("samples", heavy=60,
                                                                        light=40))
    assert [c.name for c in regressions(changes, 5)] == ["light"]
    assert regressions(changes, 10) == []


def test_total_share_compares_callers():
    base, head = _profile("samples", heavy=70, light=30), _profile("samples", heavy=30, light=70)
    names = {c.name for c in compare(base, head, by="total")}
    assert names == {"heavy", "light"}  # main is 100% in both


def test_renderings_list_both_directions():
    changes = compare(_profile("samples", heavy=70, light=30), _profile("samples", heavy=40,
                                                                        light=60))
    text = render(changes, "text", "own", 10)
    assert text.index("grew most") < text.index("light") < text.index("shrank most")
    assert "+30.0pp" in text and "-30.0pp" in text
    markdown = render(changes, "markdown", "own", 10)
    assert "| 30.0% | 60.0% | +30.0 pp | `light` | `m.py` |" in markdown
    document = json.loads(render(changes, "json", "own", 1))
    assert [c["name"] for c in document["grew"]] == ["light"]
    assert [c["name"] for c in document["shrank"]] == ["heavy"]
