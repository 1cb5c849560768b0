"""How mail is going, as the office should hear it: whether the waiting messages are spread
over days by the provider's limits, and whether every attempt to sign in has failed for the
same reason. The digest and the dashboard both say what ``outlook`` finds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from lifecycle.register.store import Register
from lifecycle.rules.pacing import DAY, Limits, schedule
from lifecycle.values.config import Config
from lifecycle.values.dates import long_date
from lifecycle.values.model import Status

PROVIDERS = {"microsoft": "Microsoft 365", "google": "Google Workspace"}


@dataclass(frozen=True)
class Outlook:
    waiting: int                  # messages still to go
    last_goes: datetime | None    # when the last of them will go, under the limits
    spread_days: int              # over how many days (1: all today)
    limit: str                    # the limit that spreads them, in words ("" if none)
    stuck_since: datetime | None  # every attempt since then was refused the same way
    stuck_reason: str

    def notices(self, tz: tzinfo) -> list[str]:
        """What the office should know, in sentences (none when all is well)."""
        said = []
        if self.stuck_since:
            said.append(f"No mail has gone out since {_moment(self.stuck_since, tz)}: every "
                        "attempt was refused for the same reason. Pass this to whoever looks "
                        f"after the school's email: {self.stuck_reason}.")
        if self.last_goes and self.spread_days > 1:
            said.append(f"The {self.waiting:,} messages waiting are spread over the coming days "
                        f"and will all have gone by {_moment(self.last_goes, tz)}, because "
                        f"{self.limit}. Governors' review prompts and packs go first.")
        return said


def _moment(moment: datetime, tz: tzinfo) -> str:
    local = moment.astimezone(tz)
    return f"{long_date(local.date())} at {local:%H:%M}"


def outlook(register: Register, config: Config, now: datetime,
            besides: int | None = None) -> Outlook:
    """``besides``: a message to leave out (the digest that is saying this)."""
    outbox = register.outbox
    limits = Limits(*config.limits)
    since, reason = _stuck(register, now)
    if not limits:              # nothing to forecast: a count will do (no rows read)
        count = outbox.count(Status.PENDING)
        left_out = besides is not None and (message := outbox.message(besides)) is not None \
            and message.status == Status.PENDING
        return Outlook(count - left_out, None, 1, "", since, reason)
    waiting = [w for w in outbox.waiting() if w[2] != besides]
    going = schedule(limits, outbox.sent_times(now - DAY),
                     [(max(ready, now), kind, ident) for ready, kind, ident in waiting])
    last = max(going.values(), default=None)
    tz = config.tz
    days = (last.astimezone(tz).date() - now.astimezone(tz).date()).days + 1 if last else 1
    return Outlook(len(waiting), last, days, _limit_words(config, limits) if days > 1 else "",
                   since, reason)


def _limit_words(config: Config, limits: Limits) -> str:
    who = PROVIDERS.get(config.auth, "the mail server, as set in config.toml,")
    rates = [f"{n:,} a {span}" for span, n in (("minute", limits.per_minute),
                                                ("day", limits.per_day)) if n]
    return f"{who} accepts at most {' and '.join(rates)} from one mailbox"


def _stuck(register: Register, now: datetime) -> tuple[datetime | None, str]:
    """When every attempt in the last day was refused at sign-in for one same reason, with
    nothing sent since the first: that moment and the reason."""
    pauses = register.outbox.pauses(now - DAY)
    if not pauses or any(p.cause != "sign-in" or p.reason != pauses[0].reason for p in pauses):
        return None, ""
    if register.outbox.sent_times(pauses[0].at):
        return None, ""
    return pauses[0].at, pauses[0].reason
