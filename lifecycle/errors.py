"""The project's exceptions: raised by the domain, turned into one line by the CLI."""

from __future__ import annotations

from pathlib import Path


class LifecycleError(Exception):
    """Base class: anything a user can cause and fix. The CLI prints str(error) and exits 1."""


class InputError(LifecycleError):
    """Bad input, located as precisely as we can: ``file:line: field: message``."""

    def __init__(
        self, message: str, *, file: Path | str | None = None, line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self.located())

    def located(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(str(self.file) if self.line is None else f"{self.file}:{self.line}")
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        return ": ".join(parts)


class UnknownPolicy(LifecycleError):
    def __init__(self, policy_id: str, known: list[str]) -> None:
        hint = f" (known: {', '.join(known)})" if known else " (the register is empty: run init)"
        super().__init__(f"unknown policy id '{policy_id}'{hint}")


class InstanceError(LifecycleError):
    """The data directory is missing, locked or not initialised."""


class RegisterBusy(LifecycleError):
    """Another writer held the register for longer than the busy timeout."""


class NeedsConfirmation(LifecycleError):
    """A new text that looks like an accident: adopted only when the office confirms it
    (``--yes`` on the command line, a second step on the dashboard)."""

    def __init__(self, file: Path | str, reasons: list[str]) -> None:
        self.file = file
        self.reasons = reasons
        super().__init__(f"{file}: this text looks like an accident ({'; '.join(reasons)}); "
                         "nothing was recorded. If it really is the new text, add --yes")
