"""How much a command costs to start: `run.py status` as a whole process against a bare
interpreter that imports sqlite3 (`python -c "import sqlite3"`), in paired rounds.
Target: at most 4x. Both run as a user runs them: bytecode cached (the benchmark lifts
PYTHONDONTWRITEBYTECODE for its child processes, and warms up first)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from paired import machine, paired  # noqa: E402

LIMIT = 4.0


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"## Start-up: `status` against a bare interpreter ({machine()})\n")
    with tempfile.TemporaryDirectory() as tmp_name:
        data = Path(tmp_name) / "data"
        shutil.copytree(REPO / "data" / "policies", data / "policies")
        shutil.copy(REPO / "data" / "config.toml", data / "config.toml")
        cmd = [sys.executable, str(REPO / "run.py"), "--data", str(data)]
        subprocess.run([*cmd, "init"], check=True, capture_output=True, env=env)
        result = paired(
            lambda: subprocess.run([*cmd, "status"], check=True, capture_output=True, env=env),
            lambda: subprocess.run([sys.executable, "-c", "import sqlite3"], check=True,
                                   capture_output=True, env=env),
            rounds=21)
    print("| | median |\n|---|---|")
    print(f"| `run.py status` (whole process) | {result.ours * 1000:.1f} ms |")
    print(f"| `python -c \"import sqlite3\"` | {result.reference * 1000:.1f} ms |")
    verdict = "met" if result.ratio <= LIMIT else "MISSED"
    print(f"\nRatio (median of {result.rounds} paired rounds): {result.ratio:.2f} "
          f"(limit {LIMIT:.1f}): {verdict}; load average after: {result.load:.2f}\n")


if __name__ == "__main__":
    main()
