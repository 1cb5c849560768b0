"""What one delivery run reads from the register and renders, each once: the policies and
their Word documents, the directory, confirmations, meetings and drafts. A run composes
thousands of messages from the same few facts; none of them is read twice."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from documents.compare import Comparison
from documents.publish import compare_versions, file_name, render_policy
from lifecycle.actions.confirmations import calendar_token
from lifecycle.actions.policies import require_policy
from lifecycle.register.outbox import mail_domain
from lifecycle.register.store import Register
from lifecycle.rules.agenda import AgendaItem, agenda
from lifecycle.values.config import Config
from lifecycle.values.model import Draft, Meeting, Person, PolicyRecord, email_key

from .mime import attachment

T = TypeVar("T")


class RunCache:
    """The register as one delivery run reads it (the run's own snapshot of it)."""

    def __init__(self, register: Register, config: Config, rendered_root: Path,
                 secret: bytes) -> None:
        self.register = register
        self.config = config
        self.rendered_root = rendered_root
        self.secret = secret
        self.domain = mail_domain(config.sender)
        self.base_url = config.base_url
        self._kept: dict[Any, Any] = {}

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """``make()``, once per run for each key."""
        if key not in self._kept:
            self._kept[key] = make()
        found: T = self._kept[key]
        return found

    # -- policies and their documents ------------------------------------------------------

    def policy(self, policy_id: str) -> PolicyRecord:
        return self.memo(("policy", policy_id), lambda: require_policy(self.register, policy_id))

    def policies(self) -> list[PolicyRecord]:
        return self.memo("policies", self.register.policies.all)

    def document(self, policy: PolicyRecord, today: date) -> tuple[str, bytes]:
        """The current Word document, rendered once (or reused from data/rendered/)."""
        def render() -> bytes:
            [result] = render_policy(self.register.policies, policy.id, policy.version, ("docx",),
                                     self.rendered_root / policy.id, today)
            return result.path.read_bytes()
        data = self.memo(("document", policy.id, policy.version), render)
        return file_name(policy.id, policy.version, "docx"), data

    def document_part(self, policy: PolicyRecord, today: date) -> bytes:
        """The current Word document as an attached part, encoded once per version."""
        return self.memo(("document part", policy.id, policy.version),
                         lambda: attachment(*self.document(policy, today)))

    def changes(self, policy: PolicyRecord, today: date) -> tuple[Comparison, bytes]:
        """What changed from the version before, and its tracked-changes document part:
        compared and encoded once per version, not once per recipient."""
        def compare() -> tuple[Comparison, bytes]:
            comparison, [tracked] = compare_versions(
                self.register.policies, policy.id, policy.version - 1, policy.version, ("docx",),
                self.rendered_root / policy.id, today)
            return comparison, attachment(tracked.path.name, tracked.path.read_bytes())
        return self.memo(("changes", policy.id, policy.version), compare)

    # -- people ----------------------------------------------------------------------------

    def person(self, person_key: str) -> Person | None:
        """The directory as it was when the run began (read once)."""
        people = self.memo("people", lambda: {email_key(p.email): p
                                              for p in self.register.people.all()})
        return people.get(person_key)

    def confirmed_by(self, person_key: str) -> dict[tuple[str, int], set[str]]:
        """(policy, version) -> the school years the person confirmed it in (every person's
        read in one query, on the first annual reminder of the run)."""
        return self.memo("confirmed", self.register.confirmations.by_everyone).get(person_key, {})

    def ref(self, person_key: str) -> str:
        """The person's opaque reference for their links (all read in one query)."""
        return self.memo("refs", self.register.people.refs).get(person_key, "")

    def feed_link(self, person_key: str) -> str:
        token = calendar_token(self.secret, self.ref(person_key))
        return f"{self.base_url}/calendar/{token}.ics"

    def records(self, person_key: str, today: date) -> bool:
        """Whether this person is the one who records the body's decisions (see recorder)."""
        recorder = self.recorder(today)
        return recorder is not None and email_key(recorder.email) == person_key

    def recorder(self, today: date) -> Person | None:
        """Who records a body's decision in the register, and so whom a prompt's replies
        reach: an active clerk, else someone in the office."""
        def find() -> Person | None:
            active = [p for p in self.register.people.all() if p.active_on(today)]
            return (next((p for p in active if "clerk" in p.roles), None)
                    or next((p for p in active if "office" in p.roles), None))
        return self.memo(("recorder", today), find)

    # -- meetings --------------------------------------------------------------------------

    def meetings(self) -> list[Meeting]:
        """Read once per delivery run, as the policies are: every pack of one run lists
        the same agenda."""
        return self.memo("meetings", lambda: self.register.meetings.all(include_cancelled=False))

    def open_drafts(self) -> dict[str, Draft]:
        return self.memo("drafts", lambda: {d.policy_id: d for d in self.register.drafts.all()})

    def agenda(self, meeting: Meeting) -> list[AgendaItem]:
        return agenda(meeting, self.meetings(), self.register.policies.all(),
                      set(self.open_drafts()))
