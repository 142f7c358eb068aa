"""The import graph runs one way, down the pipeline: a package imports only from its own
layer or the ones below it (the order the README's Architecture section gives)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "memspy"

# Highest first. Each name is a package or a module at the top of ``memspy``.
LAYERS: List[Tuple[str, ...]] = [
    ("cli", "__main__", "demo"),
    ("usdt",),
    ("top",),
    ("sampling",),
    ("reports",),
    ("collectors", "readers"),
    ("interpreter",),
    ("kernel",),
    ("memory", "binary", "offsets"),
    ("errors", "model", "printable", "__init__"),
]
RANK: Dict[str, int] = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _top(module: str) -> str:
    """The part of a ``memspy.…`` module name that names its layer."""
    return module.split(".")[1] if "." in module else "__init__"


def _module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _imports(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, module) of every import of memspy in a file, however it is written."""
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "memspy":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "memspy":
                continue
            if target == "memspy":  # ``from memspy import x``: x's layer, if a module
                for alias in node.names:
                    name = alias.name
                    is_module = (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()
                    yield node.lineno, f"memspy.{name}" if is_module else "memspy"
            else:
                yield node.lineno, target


def _upward_imports() -> List[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rank = RANK[_top(_module_of(path))]
        for line, target in _imports(path):
            if RANK[_top(target)] < rank:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    return found


def test_every_package_has_a_layer() -> None:
    tops = {_top(_module_of(path)) for path in PACKAGE.rglob("*.py")}
    assert tops <= set(RANK), sorted(tops - set(RANK))


def test_no_package_imports_a_higher_one() -> None:
    assert _upward_imports() == []


def test_an_upward_import_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check sees an import written any of the ways Python allows."""
    fake = tmp_path / "memspy"
    (fake / "memory").mkdir(parents=True)
    (fake / "cli").mkdir()
    (fake / "memory" / "__init__.py").write_text(
        "from memspy.sampling import sampler\nfrom .. import cli\nimport memspy.top.screen\n"
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert len(_upward_imports()) == 3
