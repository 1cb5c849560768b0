"""The walls of the house: SQL only in the stores, each layer importing only those below it,
no import cycle (relative imports included), only the composition importing the web
application, a domain that names no command-line option, and no assert used for control flow
(python -O removes them)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import REPO

PACKAGES = ("lifecycle", "documents", "jobs", "web")
STORES = "lifecycle/register/"       # the only folder with SQL
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK)\b")
# what each layer may not import, at module level or inside a function
FORBIDDEN = {
    "lifecycle": ("documents", "jobs", "web", "run", "cli"),
    "documents": ("jobs", "web", "run", "cli", "lifecycle.register.store",
                  "lifecycle.register.outbox", "lifecycle.register.migrations",
                  "lifecycle.register.instance",
                  "lifecycle.actions", "sqlite3", "sqlite_utils"),
    "jobs": ("web", "run", "cli"),
    "web": ("run", "cli"),
}


# a command-line option or argument in a string: --data, --changed-since-pack; or a command
# quoted as advice: 'init', 'approve social-networking', 'draft add'
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+|'(init|approve|plan|outbox|tick|serve|status|"
                    r"draft|meetings|review|people|policies)\b")


def sources() -> list[Path]:
    files = [p for package in (*PACKAGES, "cli") for p in sorted((REPO / package).rglob("*.py"))]
    return [*files, REPO / "run.py"]


def module_of(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, module: str = "", package: bool = False,
             known: frozenset[str] = frozenset()) -> set[str]:
    """Every module a file imports, anywhere in it; a relative import resolved against
    ``module`` (``from .app import x`` in web/people.py is web.app), and ``from p import m``
    naming the submodule p.m when ``known`` has it."""
    names: set[str] = set()
    here = module.split(".") if package else module.split(".")[:-1]
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and isinstance(block.test, ast.Name) and block.test.id == "TYPE_CHECKING"
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:     # for the type checker only: never run
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[:len(here) - node.level + 1], *filter(None, [base])])
            subs = {f"{base}.{alias.name}" for alias in node.names} & known
            names |= subs or {base}
    return names


def graph() -> dict[str, set[str]]:
    """Each of the project's modules -> the project's modules it imports (packages' own
    __init__ left out: they hold only a docstring)."""
    paths = {module_of(p): p for p in sources()}
    known = frozenset(paths)
    return {name: {m for m in imported(ast.parse(path.read_text(encoding="utf-8")), name,
                                       path.name == "__init__.py", known)
                   if m in known and m not in PACKAGES}
            for name, path in paths.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_sql_only_in_the_stores(path: Path) -> None:
    if str(path.relative_to(REPO)).startswith(STORES):
        return
    strings = [node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert [s for s in strings if SQL.search(s)] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_import_only_what_is_below_them(package: str) -> None:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for name in imported(tree, module_of(path), path.name == "__init__.py"):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                found.append(f"{path.relative_to(REPO)} imports {name}")
    assert found == []


# lifecycle's groups, each importing only from the groups before it: the pure rules never
# reach the register
GROUPS = ("values", "rules", "register", "actions")


@pytest.mark.parametrize("group", GROUPS)
def test_lifecycle_groups_import_only_the_groups_before_them(group: str) -> None:
    allowed = {f"lifecycle.{g}" for g in GROUPS[:GROUPS.index(group) + 1]}
    found = [f"{module} imports {name}" for module, uses in graph().items()
             if module.startswith(f"lifecycle.{group}.") for name in uses
             if name.startswith("lifecycle.") and name.rpartition(".")[0] not in allowed]
    assert found == []


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_only_the_composition_imports_the_web_application() -> None:
    assert sorted(m for m, uses in graph().items() if "web.app" in uses) == ["cli.main"]


@pytest.mark.parametrize("path", sorted((REPO / "lifecycle").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_the_domain_names_no_command_line_option(path: Path) -> None:
    """The domain's errors carry a neutral field and a typed remedy; the commands and the
    forms say them in their own words (run.py, web/pages.py)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                  and node.body and isinstance(node.body[0], ast.Expr)}
    said = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]
    assert [s for s in said if OPTION.search(s) or s in ("EMAIL", "DATE", "POLICY")] == []


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_assert_outside_the_tests(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)] == []


def test_the_checks_can_fail() -> None:
    """The detectors themselves find what they look for."""
    assert SQL.search("SELECT * FROM messages")
    assert "web.app" in imported(ast.parse("def f():\n    from web.app import create_app\n"))
    assert "web.app" in imported(ast.parse("from .app import Site\n"), "web.people")
    assert "web.app" in imported(ast.parse("from . import app\n"), "web.people",
                                 known=frozenset({"web.app"}))
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert OPTION.search("add --changed-since-pack") and not OPTION.search("a front-matter")
    assert OPTION.search("use 'approve x'") and not OPTION.search("the school's approvers")
    assert any(isinstance(n, ast.Assert) for n in ast.walk(ast.parse("assert x")))

