"""Web speed: the public policy page and the confirm endpoint of one `serve` process, loaded
by wrk on loopback in the same run. Target (issue #5): each at least 500 requests/s, with p99
latency reported; under load every confirmation is recorded exactly once.

And the public list `/policies/` at 200 policies (issue #14: at least 2,000 requests/s, p99
under 50 ms), in paired rounds against the anchor: the same bytes served from memory by a bare
ASGI callable on the same uvicorn, one process, alternating with ours."""

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
from lifecycle.actions.confirmations import Ack, ensure_secret, make_token  # noqa: E402
from lifecycle.register.instance import Instance  # noqa: E402

STAFF = 2000
POLICIES = 200
ROUNDS = 5
ROUND_SECONDS = 5
ANCHOR = """
import sys, uvicorn
body = open(sys.argv[1], "rb").read()
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/html; charset=utf-8")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", loop="uvloop",
            http="httptools", access_log=False)
"""
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
    p99 = re.search(r"99%\s+([\d.]+(?:us|ms|s))\b", out)[1]  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    return rate, p99, total


def _p99_ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text)[0])  # type: ignore[index]
    return value * {"us": 0.001, "ms": 1, "s": 1000}[re.search(r"[a-z]+$", text)[0]]  # type: ignore[index]


def _wait(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def index_rounds(tmp: Path) -> None:
    """/policies/ at POLICIES policies, ours and the anchor alternating."""
    import os
    import statistics

    data = instance(tmp / "index", staff=10, policies=POLICIES)
    ours_port, anchor_port = free_port(), free_port()
    server = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--data", str(data),
                               "serve", "--now", "2026-11-24T19:00", "--bind",
                               f"127.0.0.1:{ours_port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    anchor = None
    try:
        ours = f"http://127.0.0.1:{ours_port}/policies/"
        _wait(ours)
        body = tmp / "index.html"
        body.write_bytes(urllib.request.urlopen(ours, timeout=5).read())
        (tmp / "anchor.py").write_text(ANCHOR, encoding="utf-8")
        anchor = subprocess.Popen([sys.executable, str(tmp / "anchor.py"), str(body),
                                   str(anchor_port)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        reference = f"http://127.0.0.1:{anchor_port}/policies/"
        _wait(reference)
        load_before = os.getloadavg()[0]
        rounds = [(wrk(ours, ROUND_SECONDS), wrk(reference, ROUND_SECONDS))
                  for _ in range(ROUNDS)]
    finally:
        for process in (server, anchor):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait()
    rate = statistics.median(o[0] for o, _ in rounds)
    p99 = statistics.median(_p99_ms(o[1]) for o, _ in rounds)
    anchor_rate = statistics.median(r[0] for _, r in rounds)
    ratio = statistics.median(o[0] / r[0] for o, r in rounds)
    print(f"## The public list at {POLICIES} policies: wrk -t1 -c16, {ROUNDS} paired rounds of "
          f"{ROUND_SECONDS} s, medians\n")
    print("| | requests/s | p99 | target |\n|---|---|---|---|")
    print(f"| GET /policies/ ({body.stat().st_size // 1024} KB) | {rate:,.0f} | {p99:.1f} ms | "
          f"≥ 2,000/s: {'met' if rate >= 2000 else 'MISSED'}; p99 < 50 ms: "
          f"{'met' if p99 < 50 else 'MISSED'} |")
    print(f"| the same bytes from memory, bare ASGI on uvicorn | {anchor_rate:,.0f} | "
          f"{statistics.median(_p99_ms(r[1]) for _, r in rounds):.1f} ms | (anchor) |")
    print(f"\nratio {ratio:.2f} of the anchor (median of the rounds' ratios); "
          f"{os.cpu_count()} cores, load average {load_before:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after.\n")


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: run `make tools` (Debian package wrk)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = instance(tmp, staff=STAFF)
        secret = ensure_secret(data)
        tokens = tmp / "tokens.txt"
        with Instance.at(data).register() as register:
            refs = register.people.refs()
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
        index_rounds(tmp)
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
