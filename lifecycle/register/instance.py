"""An instance directory (``data/`` by default): config, policy sources, the register file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lifecycle.values.config import Config, load_config
from lifecycle.values.dates import now_local
from lifecycle.values.errors import InstanceError, Remedy

if TYPE_CHECKING:
    from lifecycle.register.store import Register

ENV_VAR = "POLICY_LIFECYCLE_DATA"
DB_FILE = "register.db"


def default_root() -> Path:
    return Path(os.environ.get(ENV_VAR) or "data")


@dataclass(frozen=True)
class Instance:
    root: Path
    config: Config

    @classmethod
    def at(cls, root: Path) -> Instance:
        if not root.is_dir():
            raise InstanceError(f"{root}: no such data directory", remedy=Remedy.CHOOSE_INSTANCE)
        return cls(root=root, config=load_config(root / "config.toml"))

    @property
    def policies_dir(self) -> Path:
        return self.root / "policies"

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    def register(self, create: bool = False) -> Register:
        """The register, open: use it as a context manager so that it is closed."""
        from lifecycle.register.store import Register

        if not create and not self.db_path.exists():
            raise InstanceError(f"{self.db_path}: no register yet", remedy=Remedy.INITIALISE)
        return Register(self.db_path)

    def now(self) -> datetime:
        """The clock, read once per command, in the school's time zone."""
        return now_local(self.config.timezone)
