"""The walls of the house: SQL only in the stores, each layer importing only those below it,
and no assert used for control flow (python -O removes them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

PACKAGES = ("lifecycle", "documents", "jobs", "web")
STORES = {"lifecycle/store.py", "lifecycle/outbox.py", "lifecycle/migrations.py"}
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK)\b")
# what each layer may not import, at module level or inside a function
FORBIDDEN = {
    "lifecycle": ("documents", "jobs", "web", "run"),
    "documents": ("jobs", "web", "run", "lifecycle.store", "lifecycle.outbox",
                  "lifecycle.instance", "lifecycle.operations", "sqlite3", "sqlite_utils"),
    "jobs": ("web", "run"),
    "web": ("run",),
}


def sources() -> list[Path]:
    files = [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))]
    return [*files, REPO / "run.py"]


def imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_sql_only_in_the_stores(path: Path) -> None:
    if str(path.relative_to(REPO)) in STORES:
        return
    strings = [node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert [s for s in strings if SQL.search(s)] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_import_only_what_is_below_them(package: str) -> None:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in imported(ast.parse(path.read_text(encoding="utf-8"))):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                found.append(f"{path.relative_to(REPO)} imports {name}")
    assert found == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_assert_outside_the_tests(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)] == []


def test_the_checks_can_fail() -> None:
    """The detectors themselves find what they look for."""
    assert SQL.search("SELECT * FROM messages")
    assert "web.app" in imported(ast.parse("def f():\n    from web.app import create_app\n"))
    assert any(isinstance(n, ast.Assert) for n in ast.walk(ast.parse("assert x")))
