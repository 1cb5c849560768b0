"""Web speed: the public policy page and the confirm endpoint of one `serve` process, loaded
by wrk on loopback in the same run. Target (issue #5): each at least 500 requests/s, with p99
latency reported; under load every confirmation is recorded exactly once."""

from __future__ import annotations

import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.service import free_port, instance  # noqa: E402
from lifecycle.confirmations import Ack, ensure_secret, make_token  # noqa: E402
from lifecycle.instance import Instance  # noqa: E402

STAFF = 2000
LUA = """
tokens = {}
for line in io.lines("%s") do tokens[#tokens + 1] = line end
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("POST", "/ack/" .. tokens[(counter %% #tokens) + 1],
                    {["Content-Length"] = "0"}, "")
end
"""


def wrk(url: str, seconds: int, script: Path | None = None) -> tuple[float, str, int]:
    args = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", url]
    if script:
        args[1:1] = ["-s", str(script)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p99 = re.search(r"99%\s+(\S+)", out)[1]  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return rate, p99, total


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `make tools` (Debian package wrk)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = instance(tmp, staff=STAFF)
        secret = ensure_secret(data)
        tokens = tmp / "tokens.txt"
        with Instance.at(data).register() as register:
            refs = register.person_refs()
        tokens.write_text("\n".join(
            make_token(secret, Ack("", "social-networking", 1, "2026-27"),
                       refs[f"staff{i:05d}@example.org"]) for i in range(STAFF)) + "\n")
        script = tmp / "confirm.lua"
        script.write_text(LUA % tokens)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--data", str(data),
                                   "serve", "--now", "2026-11-24T19:00", "--bind",
                                   f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/policies/social-networking", timeout=2)
                    break
                except OSError:
                    time.sleep(0.1)
            page = wrk(f"{base}/policies/social-networking", 10)
            confirm = wrk(base, 10, script)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait()
        conn = sqlite3.connect(data / "register.db")
        rows = conn.execute("SELECT count(*), count(DISTINCT person_key) FROM confirmations"
                            ).fetchone()
        audits = conn.execute("SELECT count(*) FROM audit WHERE action = 'confirmation.recorded'"
                              ).fetchone()[0]
    expected = min(STAFF, confirm[2])
    once = rows[0] == rows[1] == audits == expected
    print("## Web: one serve process, wrk -t1 -c16 for 10 s on loopback\n")
    print("| endpoint | requests/s | p99 latency | target ≥ 500/s |\n|---|---|---|---|")
    for name, (rate, p99, _) in (("GET /policies/social-networking (23 KB page)", page),
                                 ("POST /ack/<token> (confirm)", confirm)):
        print(f"| {name} | {rate:,.0f} | {p99} | {'met' if rate >= 500 else 'MISSED'} |")
    print(f"\nUnder load {confirm[2]:,} confirm requests for {STAFF:,} people recorded "
          f"{rows[0]:,} confirmations, {audits:,} audit entries: "
          f"{'each exactly once' if once else 'NOT exactly once'}.\n")


if __name__ == "__main__":
    main()
