"""No page and no email names a command-line option or a command: the office is not a
programmer. Every template (web pages, mail, rendered documents) and every string the web
layer writes into a page is searched."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest
from conftest import REPO

from cli.main import cli

TEMPLATES = sorted([*REPO.glob("web/templates/*.html"), *REPO.glob("jobs/mail/templates/*"),
                    *REPO.glob("documents/templates/*.html")])
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def commands() -> list[str]:
    """Every command as typed: 'tick', 'people erase', 'outbox retry' ..."""
    found = []
    for name, command in cli.commands.items():
        found.append(name)
        if isinstance(command, click.Group):
            found += [f"{name} {sub}" for sub in command.commands]
    return found


# a command in quotes, as advice is given: 'people erase EMAIL', "tick --now ...", `status`
NAMES = "|".join(re.escape(c) for c in sorted(commands(), key=len, reverse=True))
COMMAND = re.compile(rf"""['"‘“`](?:policy-lifecycle |run\.py )?({NAMES})(?: [\w-]|['"’”`])""")


def web_strings() -> list[tuple[str, str]]:
    """(file, string) for every string literal in web/*.py but the docstrings (server.py
    speaks to whoever runs `serve`, on the command line)."""
    found = []
    for path in sorted(set(REPO.glob("web/*.py")) - {REPO / "web" / "server.py"}):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef
                                    | ast.AsyncFunctionDef)
                      and node.body and isinstance(node.body[0], ast.Expr)}
        found += [(path.name, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in docstrings]
    return found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_template_names_an_option_or_a_command(path: Path) -> None:
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}|<style.*?</style>|<[^>]*>", "",
                  path.read_text(encoding="utf-8"), flags=re.S)        # the words only
    assert not OPTION.search(text), OPTION.search(text)
    assert not COMMAND.search(text), COMMAND.search(text)


def test_no_web_page_string_names_an_option_or_a_command() -> None:
    said = [(f, s) for f, s in web_strings()
            if OPTION.search(s) or (COMMAND.search(s) and " " in s)]
    assert said == []
