"""``data/config.toml``: the instance's settings, validated, with defaults for everything.

No secret ever lives here: the SMTP password and the Microsoft client secret come from the
environment or the keyring; Google's service account key is a file of its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lifecycle.values.dates import date_spans, parse_interval
from lifecycle.values.errors import InputError
from lifecycle.values.model import ROLES
from lifecycle.values.terms import Term, holidays, parse_terms

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Closure:
    """School closed (a term holiday): staff messages wait until it reopens."""

    name: str
    start: date
    end: date

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Config:
    school: str = "St Ann's School"
    school_type: str = "maintained"
    phase: str = "primary"
    timezone: str = "Europe/London"
    due_soon_days: int = 56
    lead_days: tuple[int, ...] = (56, 28, 14)
    overdue_every_days: int = 28
    prompt_gap_days: int = 14
    pack_days: int = 10
    cycle_start: tuple[int, int] = (9, 1)
    window_days: tuple[int, ...] = (0, 1, 2, 3, 4)
    window_start: time = time(8, 0)
    window_end: time = time(18, 0)
    digest_weekday: int = 0
    closures: tuple[Closure, ...] = ()
    terms: tuple[Term, ...] = ()
    approvers: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {"Governing Body": ("governor", "clerk")})
    transport: str = "files"
    sender: str = "Policy Lifecycle <policies@example.org>"
    base_url: str = "http://127.0.0.1:8080"
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_user: str = ""
    smtp_timeout: int = 30
    auth: str = "password"
    per_minute: int | None = None           # None: the provider's limit (none for a password)
    per_day: int | None = None
    microsoft_tenant: str = ""
    microsoft_client: str = ""
    microsoft_authority: str = "https://login.microsoftonline.com"
    microsoft_mailbox: str = ""
    google_key_file: str = ""
    google_mailbox: str = ""
    retry_for_hours: int = 48
    chase_after_days: tuple[int, ...] = (14, 28)
    keep_after_leaving_months: int = 72
    web_bind: str = "127.0.0.1:8080"
    trusted_proxies: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def limits(self) -> tuple[int | None, int | None]:
        """Messages a minute and in any 24 hours the mail provider accepts from one mailbox
        (None: no limit): as set, else the provider's published limit."""
        minute, day = PROVIDER_LIMITS.get(self.auth, (None, None))
        return (self.per_minute if self.per_minute is not None else minute,
                self.per_day if self.per_day is not None else day)

    @property
    def mailbox(self) -> str:
        """The mailbox that signs in with OAuth: as set, else the From address."""
        chosen = {"microsoft": self.microsoft_mailbox, "google": self.google_mailbox}
        if chosen.get(self.auth):
            return chosen[self.auth]
        return _FROM_ADDRESS.search(self.sender)[0]  # type: ignore[index]

    @property
    def loopback_warning(self) -> str:
        """What to say when mail goes to real people with links only this computer can open
        (the default base_url with the SMTP transport); "" when all is well."""
        from urllib.parse import urlsplit

        host = urlsplit(self.base_url).hostname or ""
        loopback = host == "localhost" or host.endswith(".localhost")
        with contextlib.suppress(ValueError):
            loopback = loopback or ipaddress.ip_address(host).is_loopback
        if self.transport != "smtp" or not loopback:
            return ""
        return (f"messages go to real people by SMTP, but their links point to {self.base_url},"
                " which only this computer can open: set [web] base_url in config.toml to the "
                "address staff use")


def _positive(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"expected a whole number, zero or more, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected text, got {value!r}")
    return value.strip()


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return str(value)
    return parse


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(_text(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}'") from None
    return str(value)


def _days_list(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of numbers of days, e.g. [56, 28, 14]")
    return tuple(sorted({_positive(v) for v in value}, reverse=True))


def _ladder(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError("expected a list of days, e.g. [14, 28] (or [] for no chasers)")
    return tuple(sorted({_positive(v) for v in value if _positive(v) > 0}))


def _limit(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"expected a whole number of messages, 1 or more, got {value!r}")
    return value


def _address(value: Any) -> str:
    text = _text(value)
    if not _FROM_ADDRESS.fullmatch(text):
        raise ValueError(f"expected a mailbox address such as policies@school.example, got "
                         f"{value!r}")
    return text


def _guid(value: Any) -> str:
    """An Entra ID tenant or application (client) ID, or a tenant's domain name."""
    text = _text(value)
    if not re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|[\w.-]+\.\w+", text):
        raise ValueError(f"expected an ID such as 0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e, got "
                         f"{value!r}")
    return text


def _https(value: Any) -> str:
    text = _url(value)
    if not text.startswith("https://"):
        raise ValueError(f"expected an https:// address, got {value!r}")
    return text


def _port(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 65536:
        raise ValueError(f"expected a port from 1 to 65535, got {value!r}")
    return value


def _timeout(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 300:
        raise ValueError(f"expected a number of seconds from 1 to 300, got {value!r}")
    return value


# A From line: an address, or a name and an address in angle brackets. Matched here rather
# than with email.utils.parseaddr, whose import (socket, random, uuid) every command paid at
# start-up for this one check.
_ADDRESS = r"[^@\s<>]+@[^@\s<>.]+(?:\.[^@\s<>.]+)+"
_FROM = re.compile(rf"\s*(?:[^<>]*<\s*{_ADDRESS}\s*>|{_ADDRESS})\s*")
_FROM_ADDRESS = re.compile(_ADDRESS)
# Exchange Online: 30 messages a minute and 10,000 recipients a day per mailbox; Google
# Workspace: about 2,000 messages a day per user.
PROVIDER_LIMITS: dict[str, tuple[int | None, int | None]] = {
    "microsoft": (30, 10_000), "google": (None, 2_000)}


def _sender(value: Any) -> str:
    """A From line with an address in it: 'School <policies@school.example>'."""
    text = _text(value)
    if _CONTROL.search(text) or not _FROM.fullmatch(text):
        raise ValueError(f"expected a name and address such as 'School <policies@school."
                         f"example>', got {value!r}")
    return text


def bind_address(value: Any) -> str:
    """host:port, for [web] bind and serve --bind."""
    m = re.fullmatch(r"([\w.\-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})", str(value))
    if not m or not 0 < int(m[2]) < 65536:
        raise ValueError(f"expected host:port such as 127.0.0.1:8080, got {value!r}")
    return str(value)


def _proxies(value: Any) -> tuple[str, ...]:
    """Addresses or networks of reverse proxies whose X-Forwarded-For is believed."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of addresses such as [\"127.0.0.1\"], got {value!r}")
    try:
        return tuple(str(ipaddress.ip_network(str(v), strict=False)) if "/" in str(v)
                     else str(ipaddress.ip_address(str(v))) for v in value)
    except ValueError:
        raise ValueError(f"expected IP addresses or networks such as 10.0.0.0/8, got {value!r}"
                         ) from None


def _month_day(value: Any) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{2})-(\d{2})", str(value))
    if m is not None:
        with contextlib.suppress(ValueError):
            date(2001, int(m[1]), int(m[2]))       # 2001: no 29 February
            return int(m[1]), int(m[2])
    raise ValueError(f"expected MM-DD such as 09-01, got {value!r}")


def _clock(value: Any) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"expected a time such as 08:00, got {value!r}") from None


def _weekday(value: Any) -> int:
    text = str(value).lower()[:3]
    if text not in WEEKDAYS:
        raise ValueError(f"expected a day such as monday, got {value!r}")
    return WEEKDAYS.index(text)


def _weekdays(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a list of days such as [\"mon\", \"tue\"]")
    return tuple(sorted({_weekday(v) for v in value}))


def _closures(value: Any) -> tuple[Closure, ...]:
    spans = date_spans(value, "closures")
    for name, _, _ in spans:
        _text(name)
    return tuple(sorted((Closure(*span) for span in spans), key=lambda c: c.start))


def _with_holidays(closures: tuple[Closure, ...], terms: tuple[Term, ...]) -> tuple[Closure, ...]:
    """The closures given, and the holidays between the half terms (which they may repeat)."""
    gaps = [Closure(name, first, last) for name, first, last in holidays(terms)]
    return tuple(sorted({*closures, *gaps}, key=lambda c: (c.start, c.end)))


def _approvers(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise ValueError("expected a table of approving body = [roles]")
    result = {}
    for name, roles in value.items():
        if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
            raise ValueError(f"'{name}' must list roles from: {', '.join(ROLES)}")
        result[name] = tuple(roles)
    return result


def _url(value: Any) -> str:
    text = _text(value).rstrip("/")
    if not re.match(r"https?://[^\s/]+", text):
        raise ValueError(f"expected an http(s) address, got {value!r}")
    return text


# (section, key) -> (Config field, parser). [[closures]], [[terms]] and [approvers] are whole
# sections.
_SETTINGS: dict[tuple[str, str | None], tuple[str, Callable[[Any], Any]]] = {
    ("school", "name"): ("school", _text),
    ("school", "timezone"): ("timezone", _timezone),
    ("school", "type"): ("school_type", _choice("maintained", "academy")),
    ("school", "phase"): ("phase", _choice("primary", "secondary", "all-through")),
    ("terms", None): ("terms", parse_terms),
    ("review", "due_soon_days"): ("due_soon_days", _positive),
    ("review", "lead_days"): ("lead_days", _days_list),
    ("review", "overdue_every_days"): ("overdue_every_days", _positive),
    ("review", "prompt_gap_days"): ("prompt_gap_days", _positive),
    ("meetings", "pack_days"): ("pack_days", _positive),
    ("reminders", "cycle_start"): ("cycle_start", _month_day),
    ("send_window", "days"): ("window_days", _weekdays),
    ("send_window", "start"): ("window_start", _clock),
    ("send_window", "end"): ("window_end", _clock),
    ("digest", "weekday"): ("digest_weekday", _weekday),
    ("closures", None): ("closures", _closures),
    ("approvers", None): ("approvers", _approvers),
    ("mail", "transport"): ("transport", _choice("files", "smtp")),
    ("mail", "from"): ("sender", _sender),
    ("web", "base_url"): ("base_url", _url),
    ("mail", "retry_for_hours"): ("retry_for_hours", _positive),
    ("mail", "auth"): ("auth", _choice("password", "microsoft", "google")),
    ("mail", "per_minute"): ("per_minute", _limit),
    ("mail", "per_day"): ("per_day", _limit),
    ("mail.microsoft", "tenant_id"): ("microsoft_tenant", _guid),
    ("mail.microsoft", "client_id"): ("microsoft_client", _guid),
    ("mail.microsoft", "authority"): ("microsoft_authority", _https),
    ("mail.microsoft", "mailbox"): ("microsoft_mailbox", _address),
    ("mail.google", "service_account_file"): ("google_key_file", _text),
    ("mail.google", "mailbox"): ("google_mailbox", _address),
    ("smtp", "host"): ("smtp_host", _text),
    ("smtp", "port"): ("smtp_port", _port),
    ("smtp", "security"): ("smtp_security", _choice("starttls", "ssl", "none")),
    ("smtp", "user"): ("smtp_user", lambda v: str(v).strip()),
    ("smtp", "timeout"): ("smtp_timeout", _timeout),
    ("confirmations", "chase_after_days"): ("chase_after_days", _ladder),
    ("people", "keep_after_leaving"): ("keep_after_leaving_months", parse_interval),
    ("web", "bind"): ("web_bind", bind_address),
    ("web", "trusted_proxies"): ("trusted_proxies", _proxies),
}


def _line_of(text: str, key: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(rf"\s*(\[\[?)?{re.escape(key)}(\]\]?)?\s*=?", line):
            return number
    return None


def load_config(path: Path) -> Config:
    """Read ``path`` if it exists; unknown keys and wrong values are errors, not ignored."""
    if not path.exists():
        return Config()
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not UTF-8 text (byte 0x{data[e.start]:02x}): save it as UTF-8",
                         file=path, line=data[:e.start].count(b"\n") + 1) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(str(e), file=path) from None
    values: dict[str, Any] = {}
    for section, key, value in _entries(raw):
        name = f"{section}.{key}" if key else section
        if (section, key) not in _SETTINGS:
            raise InputError("unknown setting", file=path, line=_line_of(text, key or section),
                             field=name)
        attribute, parse = _SETTINGS[(section, key)]
        try:
            values[attribute] = parse(value)
        except ValueError as e:
            raise InputError(str(e), file=path, line=_line_of(text, key or section),
                             field=name) from None
    if values.get("terms"):
        values["closures"] = _with_holidays(values.get("closures", ()), values["terms"])
    config = Config(**values)
    if config.window_end <= config.window_start:
        raise InputError("the send window must end after it starts", file=path,
                         line=_line_of(text, "end"), field="send_window.end")
    for section, key in _NEEDED.get(config.auth, ()):
        if not getattr(config, _SETTINGS[(section, key)][0]):
            raise InputError(f'auth = "{config.auth}" needs [{section}] {key}', file=path,
                             line=_line_of(text, "auth"), field=f"{section}.{key}")
    return config


# What each way of signing in cannot do without.
_NEEDED = {"microsoft": (("mail.microsoft", "tenant_id"), ("mail.microsoft", "client_id")),
           "google": (("mail.google", "service_account_file"),)}


def _entries(raw: dict[str, Any]) -> Iterator[tuple[str, str | None, Any]]:
    """(section, key, value) for every setting, whole-section settings with key None and
    tables within a section ([mail.microsoft]) as sections of their own."""
    for section, table in raw.items():
        if (section, None) in _SETTINGS:
            yield section, None, table
        elif not isinstance(table, dict):
            yield section, "", table
        else:
            for key, value in table.items():
                if isinstance(value, dict) and any(s == f"{section}.{key}" for s, _ in _SETTINGS):
                    yield from _entries({f"{section}.{key}": value})
                else:
                    yield section, key, value
