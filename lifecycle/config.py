"""``data/config.toml``: the instance's settings, validated, with defaults for everything.

No secret ever lives here: the SMTP password comes from the environment or the keyring.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InputError


@dataclass(frozen=True)
class Config:
    school: str = "St Ann's School"
    timezone: str = "Europe/London"
    due_soon_days: int = 56


# section.key in the file -> Config field name
_KEYS = {
    ("school", "name"): "school",
    ("school", "timezone"): "timezone",
    ("review", "due_soon_days"): "due_soon_days",
}


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def load_config(path: Path) -> Config:
    """Read ``path`` if it exists; unknown keys and wrong types are errors, not silent."""
    if not path.exists():
        return Config()
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(str(e), file=path) from None
    values: dict[str, Any] = {}
    for section, table in raw.items():
        if not isinstance(table, dict):
            raise InputError("settings belong in a [section]", file=path,
                             line=_line_of(text, section), field=section)
        for key, value in table.items():
            name = _KEYS.get((section, key))
            if name is None:
                raise InputError("unknown setting", file=path, line=_line_of(text, key),
                                 field=f"{section}.{key}")
            values[name] = value
    config = Config(**values)
    _validate(config, path, text)
    return config


def _validate(config: Config, path: Path, text: str) -> None:
    types = {f.name: type(getattr(Config(), f.name)) for f in fields(Config)}
    for (section, key), name in _KEYS.items():
        value = getattr(config, name)
        if not isinstance(value, types[name]) or isinstance(value, bool):
            raise InputError(f"expected a {types[name].__name__}, got {value!r}", file=path,
                             line=_line_of(text, key), field=f"{section}.{key}")
    try:
        ZoneInfo(config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone '{config.timezone}'", file=path,
                         line=_line_of(text, "timezone"), field="school.timezone") from None
    if config.due_soon_days < 0:
        raise InputError("must be zero or more", file=path,
                         line=_line_of(text, "due_soon_days"), field="review.due_soon_days")
