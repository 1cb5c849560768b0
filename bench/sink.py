"""A local SMTP sink for the benchmarks, in its own process so its parsing does not share the
benchmark's interpreter: accepts every message and keeps only a count. An optional second
argument is a delay in seconds before each answer (a real server's pace)."""

import asyncio
import sys
import time

from aiosmtpd.controller import Controller


class Count:
    received = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        if DELAY:
            await asyncio.sleep(DELAY)
        Count.received += 1
        return "250 OK"


DELAY = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0

if __name__ == "__main__":
    controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()
