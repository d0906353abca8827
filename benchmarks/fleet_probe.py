"""bench_fleet's probe: heartbeats sent from a quiet process of their own.

The driver simulates 2,000 instances in one Python process; on a 2-core machine it is busy
itself, so its latencies include its own queueing. The probe is what one worker on its own
machine sees: it registers --count instances and drains them (they hold no streams, so the
fleet's coverage is the driver's alone), prints `ready`, and beats each instance every --every
seconds, one at a time, reporting what it runs (nothing) and the generation it was last
answered (a steady beat). After `go SECONDS` on stdin it keeps the latencies of the next
SECONDS and prints them as JSON.

    python benchmarks/fleet_probe.py http://127.0.0.1:8000 --count 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx


async def probe(url: str, count: int, every_s: float) -> None:
    names = [f"probe-{n:02d}" for n in range(count)]
    generations = dict.fromkeys(names, 0)
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for name in names:
            body = {"instance_id": name, "max_streams": 1, "capabilities": ["audio_fingerprinting"]}
            (await client.post("/register", json=body)).raise_for_status()
            (await client.post(f"/instances/{name}/drain")).raise_for_status()
        print("ready", flush=True)
        # Beat from the start, as a drained worker does (a silent one would be failed over),
        # and keep the latencies of the window the driver asks for.
        command = asyncio.create_task(asyncio.to_thread(sys.stdin.readline))
        latencies: list[float] = []
        errors = 0
        deadline = None
        while deadline is None or time.monotonic() < deadline:
            if deadline is None and command.done():
                deadline = time.monotonic() + float(command.result().split()[1])
            for name in names:
                body = {"instance_id": name, "stream_ids": [], "generation": generations[name]}
                started = time.perf_counter()
                answer = await client.post("/heartbeat", json=body)
                if deadline is not None:
                    latencies.append(time.perf_counter() - started)
                    errors += answer.status_code != 200
                if answer.status_code == 200:
                    generations[name] = answer.json()["generation"]
            await asyncio.sleep(every_s)
    print(json.dumps({"latencies": latencies, "errors": errors}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--every", type=float, default=1.0, help="s between rounds of beats")
    args = parser.parse_args()
    asyncio.run(probe(args.url, args.count, args.every))


if __name__ == "__main__":
    main()
