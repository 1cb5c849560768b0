"""The command reference (docs/reference.md), written by cog from the commands themselves: every
command's --help, in the order the CLI lists them (`make docs` rewrites it; a test checks it)."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from run import cli


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name in group.list_commands(click.Context(group)):
        command = group.commands[name]
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def reference() -> str:
    parts = []
    for path in [(), *commands(cli)]:
        result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=88)
        text = result.output.replace("Usage: cli ", "Usage: policy-lifecycle ")
        title = " ".join(("policy-lifecycle", *path))
        parts.append(f"## `{title}`\n\n```\n{text.rstrip()}\n```\n")
    return "\n".join(parts)
