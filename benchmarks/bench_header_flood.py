"""Header flood: resident memory of an orchestrator while clients send 32 MB request headers.

Two orchestrator processes serve the same app on SQLite, one with uvicorn's stock httptools
protocol (the baseline, which buffers a header of any size) and one with FingerV7's
HeaderLimitedHttpTools (431 past 64 KiB). For each, N clients in parallel send `GET /health`
with one 32 MB header; the script samples the server's RSS every 20 ms and reports idle and peak
RSS, the answers, and the time to answer. Server and load driver are separate processes.

    .venv/bin/python benchmarks/bench_header_flood.py --clients 4 --megabytes 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

SERVER = """
import uvicorn
from fingerv7.api.app import create_app_from_env
from fingerv7.http_limits import HeaderLimitedHttpTools
http = HeaderLimitedHttpTools if {limited} else "httptools"
uvicorn.run(create_app_from_env, factory=True, host="127.0.0.1", port={port}, http=http,
            log_config=None, access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _flood(port: int, megabytes: int) -> tuple[str, float]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = asyncio.create_task(reader.read(200))
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Junk: ")
    chunk = b"a" * 65_536
    try:
        for _ in range(megabytes * 16):
            if answer.done():
                break
            writer.write(chunk)
            await writer.drain()
        if not answer.done():
            writer.write(b"\r\n\r\n")
            await writer.drain()
        head = await asyncio.wait_for(answer, 60)
    except (ConnectionError, TimeoutError) as error:
        head = type(error).__name__.encode()
    writer.close()
    return head.split(b"\r\n", 1)[0].decode(errors="replace"), time.perf_counter() - started


async def _measure(process: psutil.Process, port: int, clients: int, megabytes: int) -> dict:
    idle = process.memory_info().rss
    peak = idle
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(_flood(port, megabytes) for _ in range(clients)))
    done = True
    await sampler
    return {"idle_mb": idle / 2**20, "peak_mb": peak / 2**20, "results": results}


def _run(limited: bool, clients: int, megabytes: int, workdir: Path) -> dict:
    port = _free_port()
    env = os.environ | {"DATABASE_URL": f"sqlite:///{workdir / f'o-{limited}.db'}"}
    code = SERVER.format(limited=limited, port=port)
    server = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=workdir)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        return asyncio.run(_measure(psutil.Process(server.pid), port, clients, megabytes))
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--megabytes", type=int, default=32)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores (shared), {psutil.virtual_memory().total / 2**30:.1f} GB"
    )
    print(f"{args.clients} clients x one {args.megabytes} MB header, GET /health\n")
    print("| server | idle RSS MB | peak RSS MB | peak / idle | answers | slowest answer s |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        for label, limited in (
            ("stock httptools (baseline)", False),
            ("HeaderLimitedHttpTools", True),
        ):
            figures = _run(limited, args.clients, args.megabytes, Path(folder))
            answers = sorted({status for status, _ in figures["results"]})
            slowest = max(seconds for _, seconds in figures["results"])
            print(
                f"| {label} | {figures['idle_mb']:.0f} | {figures['peak_mb']:.0f} | "
                f"{figures['peak_mb'] / figures['idle_mb']:.2f} | {'; '.join(answers)} | "
                f"{slowest:.2f} |"
            )


if __name__ == "__main__":
    main()
