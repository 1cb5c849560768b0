"""The mail templates (``templates/``): a plain-text and an HTML template per kind of
message, the plain-text one holding the subject line in its ``subject`` block. Compiled once
per process, not at every delivery run."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template

from lifecycle.values.dates import long_date

TEMPLATES = Path(__file__).parent / "templates"


@functools.cache
def environments() -> tuple[Environment, Environment]:
    """The HTML (autoescaped) and plain-text template environments."""
    env = {"loader": FileSystemLoader(TEMPLATES), "trim_blocks": True, "lstrip_blocks": True,
           "auto_reload": False}   # not a stat of every template for every message
    html = Environment(autoescape=True, **env)  # type: ignore[arg-type]
    text = Environment(autoescape=False, keep_trailing_newline=True,  # noqa: S701
                       **env)  # type: ignore[arg-type]
    for environment in (html, text):
        environment.filters["long_date"] = long_date
    return html, text


def text_template(name: str) -> Template:
    return environments()[1].get_template(f"{name}.txt")


def html_template(name: str) -> Template:
    return environments()[0].get_template(f"{name}.html")


def both(name: str, context: dict[str, Any]) -> tuple[str, str]:
    """The plain text and the HTML of a template."""
    return text_template(name).render(context), html_template(name).render(context)


def subject(name: str, context: dict[str, Any]) -> str:
    """The subject line, from the plain-text template's ``subject`` block."""
    template = text_template(name)
    return "".join(template.blocks["subject"](template.new_context(context))).strip()
