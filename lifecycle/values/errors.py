"""The project's exceptions: raised by the domain, turned into one line by the CLI and into
a sentence beside a form's field by the web.

The domain speaks neither's vocabulary: an error names a neutral ``field`` (``meeting``,
``reviewed``, ``person``) and, where there is a way round it, a typed ``remedy``; run.py says
them as the command's options, the web as its forms' fields, each in one table."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class Remedy(StrEnum):
    """A way round a refusal, said by each interface in its own words."""

    CONFIRM = "confirm"                 # it looked like an accident: confirm the new text
    FORCE = "force"                     # erase someone still active
    CHANGED_SINCE_PACK = "changed-since-pack"   # approve a draft replaced after the pack
    NEW_TEXT = "new-text"               # a new text of an existing policy: record a review
    FROM_CATALOGUE = "from-catalogue"   # take the facts from a statutory catalogue entry
    ADD_MEETING = "add-meeting"         # the meeting is not in the register yet
    GIVE_APPROVER = "give-approver"     # name the approving body
    CHOOSE_INSTANCE = "choose-instance"  # the instance's directory is elsewhere
    INITIALISE = "initialise"           # the instance has no register yet
    ADD_DRAFT = "add-draft"             # the policy has no open draft
    APPROVE_UNCHANGED = "approve-unchanged"     # the same text: approve with no changes


class LifecycleError(Exception):
    """Base class: anything a user can cause and fix. The CLI prints str(error) and its
    remedy, and exits 1."""

    remedy: Remedy | None = None
    policy_id: str = ""                 # the policy a remedy is about, when it names one


class InputError(LifecycleError):
    """Bad input, located as precisely as we can: ``file:line: field: message``."""

    def __init__(
        self, message: str, *, file: Path | str | None = None, line: int | None = None,
        field: str | None = None, remedy: Remedy | None = None, policy_id: str = "",
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        self.remedy = remedy
        self.policy_id = policy_id
        super().__init__(self.located())

    def located(self, field: str | None = None) -> str:
        """``file:line: field: message``, the field named as given (a command's option, say)
        or by its neutral name."""
        parts = []
        if self.file is not None:
            parts.append(str(self.file) if self.line is None else f"{self.file}:{self.line}")
        if field or self.field:
            parts.append(field or self.field or "")
        parts.append(self.message)
        return ": ".join(parts)


class UnknownPolicy(LifecycleError):
    def __init__(self, policy_id: str, known: list[str]) -> None:
        hint = f" (known: {', '.join(known)})" if known else " (the register is empty: run init)"
        super().__init__(f"unknown policy id '{policy_id}'{hint}")


class InstanceError(LifecycleError):
    """The data directory is missing, locked or not initialised."""

    def __init__(self, message: str, remedy: Remedy | None = None) -> None:
        super().__init__(message)
        self.remedy = remedy


class RegisterBusy(LifecycleError):
    """Another writer held the register for longer than the busy timeout."""


class NeedsConfirmation(LifecycleError):
    """A new text that looks like an accident: adopted only when the office confirms it
    (an option on the command line, a second step on the dashboard)."""

    remedy = Remedy.CONFIRM

    def __init__(self, file: Path | str, reasons: list[str]) -> None:
        self.file = file
        self.reasons = reasons
        super().__init__(f"{file}: this text looks like an accident ({'; '.join(reasons)}); "
                         "nothing was recorded")
