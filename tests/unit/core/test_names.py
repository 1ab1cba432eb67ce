"""One name, one thing: no two classes (or type aliases) in pipeline/ and workers/ share a
name, and no two modules do, beyond the names every package or entry point has by
convention. A reader who meets `Entry` or `views` should not have to ask which one."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SOURCES = sorted((ROOT / "pipeline").rglob("*.py")) + sorted((ROOT / "workers").rglob("*.py"))
# Each package keeps its tables in models.py; each entry point has its app.py, each area
# its settings.py; routes are named after the resource they serve.
CONVENTIONAL_MODULES = {"__init__", "models", "settings", "app"}
ROUTES = ROOT / "pipeline" / "api" / "routes"


def type_names(tree: ast.Module) -> list[str]:
    """Classes and CamelCase aliases (`Reader = Annotated[...]`) defined at module level."""
    names = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [
                target.id
                for target in targets
                # CamelCase, not a CONSTANT
                if isinstance(target, ast.Name)
                and target.id[:1].isupper()
                and not target.id.isupper()
            ]
    return names


def duplicates(where: dict[str, list[str]]) -> dict[str, list[str]]:
    return {name: places for name, places in where.items() if len(places) > 1}


def test_the_sources_are_found() -> None:
    assert len(SOURCES) > 50
    assert ROOT / "pipeline" / "publish" / "build.py" in SOURCES


def test_no_two_classes_or_type_aliases_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in type_names(tree):
            where[name].append(str(path.relative_to(ROOT)))
    assert "Publisher" in where
    assert duplicates(where) == {}


def test_no_two_modules_share_a_name_beyond_the_conventional_ones() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in SOURCES:
        if path.stem not in CONVENTIONAL_MODULES and path.parent != ROUTES:
            where[path.stem].append(str(path.relative_to(ROOT)))
    assert duplicates(where) == {}


def test_a_clash_is_found() -> None:
    twice = ast.parse("class Entry:\n    pass\nEntry = int\nLIMIT = 3\n")
    assert type_names(twice) == ["Entry", "Entry"]
    assert duplicates({"Entry": ["a.py", "b.py"], "Rail": ["c.py"]}) == {"Entry": ["a.py", "b.py"]}
