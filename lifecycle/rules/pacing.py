"""How fast mail may go: the mail provider's limits per minute and per rolling 24 hours.

Exchange Online refuses a 31st message in a minute from one mailbox and blocks the mailbox for
a day after 10,000 recipients in 24 hours; Google Workspace allows about 2,000 messages a day.
Delivery asks ``allowance`` how many may go now; ``schedule`` answers, for ``plan`` and the
dashboard, when each waiting message will really go if delivery runs every minute, as the
service's does. Both read the same send times, so what is shown is what is done.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lifecycle.values.model import Kind

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
DELIVERY_EVERY = MINUTE          # the service's delivery job runs this often
# The order delivery takes waiting messages in: governors' review prompts and packs and the
# office's digest, then the bulk mail to staff (which a daily limit may spread over days: the
# Monday digest must not wait behind it).
ORDER = ((Kind.REVIEW, Kind.PACK, Kind.DIGEST), (Kind.REMINDER, Kind.UPDATED, Kind.CHASE))


def urgency(kind: Kind | str) -> int:
    """A message's place in ORDER (lower goes first)."""
    return next(i for i, kinds in enumerate(ORDER) if kind in kinds)


@dataclass(frozen=True)
class Limits:
    per_minute: int | None = None
    per_day: int | None = None

    def __bool__(self) -> bool:
        return bool(self.per_minute or self.per_day)

    def windows(self) -> list[tuple[timedelta, int]]:
        return [(span, n) for span, n in ((MINUTE, self.per_minute), (DAY, self.per_day)) if n]


def allowance(limits: Limits, sent: Sequence[datetime], now: datetime) -> int | None:
    """How many messages may go at ``now`` (None: no limit), given the times, in order, at
    which messages went in the last 24 hours."""
    if not limits:
        return None
    room = min(n - _since(sent, now - span) for span, n in limits.windows())
    return max(0, room)


def reopens(limits: Limits, sent: Sequence[datetime], now: datetime) -> datetime:
    """The first moment at or after ``now`` at which one more message may go."""
    moment = now
    for span, n in limits.windows():
        recent = _since(sent, now - span)
        if recent >= n:                # the oldest that must age out first
            moment = max(moment, sent[len(sent) - recent + (recent - n)] + span)
    return moment


def _since(sent: Sequence[datetime], start: datetime) -> int:
    """How many of ``sent`` (in order) are after ``start``."""
    return len(sent) - bisect_right(sent, start)


def schedule(limits: Limits, sent: Iterable[datetime],
             arrivals: Iterable[tuple[datetime, Kind | str, Hashable]]
             ) -> dict[Hashable, datetime]:
    """When each message will go: ``arrivals`` are (ready at, kind, message), in the order
    delivery would meet them; ``sent`` the send times of the last 24 hours. Delivery runs
    every minute from each arrival; the urgent go before the bulk; the limits are kept."""
    arriving = sorted(arrivals, key=lambda a: a[0])
    history = sorted(sent)
    if not limits:
        return {item: ready for ready, _, item in arriving}
    out: dict[Hashable, datetime] = {}
    waiting: list[tuple[int, int, Hashable]] = []
    moment, i = arriving[0][0] if arriving else datetime.min, 0
    while i < len(arriving) or waiting:
        if not waiting:
            moment = max(moment, arriving[i][0])
        while i < len(arriving) and arriving[i][0] <= moment:
            heapq.heappush(waiting, (urgency(arriving[i][1]), i, arriving[i][2]))
            i += 1
        for _ in range(min(allowance(limits, history, moment) or 0, len(waiting))):
            out[heapq.heappop(waiting)[2]] = moment
            history.append(moment)
        if waiting:
            opening = reopens(limits, history, moment + DELIVERY_EVERY)
            moment += DELIVERY_EVERY * math.ceil((opening - moment) / DELIVERY_EVERY)
        del history[:max(0, bisect_right(history, moment - DAY) - 1)]
    return out
