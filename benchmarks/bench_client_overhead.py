"""The load generator's own cost: how many requests per second it can issue and parse, and how many
microseconds of CPU it spends per streamed token, against a trivial local endpoint (an asyncio server
streaming canned SSE, :mod:`inferonomics.bench.fakeserver`).

    python benchmarks/bench_client_overhead.py [--quick]

Two placements of the endpoint:

* ``in-process``: the server runs in the client's event loop, so every figure also pays the server's
  work — an upper bound on the client's cost;
* ``subprocess``: the server runs in another process; the client's CPU time (``time.process_time`` of the
  client process) is the client alone.

Three loads: ``requests`` (1-token answers: request rate), ``burst`` (long answers streamed as fast as
the server can write, many events per network read) and ``paced`` (one token every 2 ms per stream, so
nearly every event is its own network read, as from a real engine).  The full path is measured: HTTP,
SSE parsing, the record and its SQLite commit, the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

from inferonomics.bench import BenchConfig, Session, Store
from inferonomics.bench.fakeserver import Behaviour, FakeServer
from inferonomics.bench.prompts import Prompt


class _CannedSession(Session):
    """A session whose prompts cost nothing to make (no tokenizer calls), so only the hot path is timed."""

    async def prompts(self, n, seed):
        return [Prompt(prompt="hello world", max_tokens=self.cfg.osl, input_tokens=3, input_tokens_source="tokenizer")
                for _ in range(n)]


def _script_for(delay: float):
    return lambda i, body: Behaviour(token_delay_s=delay)


def _serve(port_q, delay: float) -> None:
    async def main():
        srv = FakeServer(_script_for(delay))
        await srv.start()
        port_q.put(srv.port)
        await asyncio.Event().wait()

    asyncio.run(main())


async def _measure(url: str, n: int, osl: int, conc: int, db: Path) -> dict:
    cfg = BenchConfig(url=url, concurrency=conc, num_requests=n, osl=osl, isl=3)
    with Store(db) as store:
        async with _CannedSession(cfg, max_connections=conc) as s:
            w0, c0 = time.perf_counter(), time.process_time()
            run = await s.run(store)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    sm = run.summary
    toks = sm["output_tokens_per_s"] * sm["duration_s"]
    assert sm["n_ok"] == n, sm["errors_by_type"]
    return {"wall_s": wall, "cpu_s": cpu, "requests_per_s": n / wall, "tokens_per_s": toks / wall,
            "cpu_us_per_request": cpu / n * 1e6, "cpu_us_per_token": cpu / toks * 1e6}


async def _in_process(delay, n, osl, conc, db) -> dict:
    srv = FakeServer(_script_for(delay))
    await srv.start()
    try:
        return await _measure(srv.url, n, osl, conc, db)
    finally:
        await srv.stop()


def _subprocess(delay, n, osl, conc, db) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_serve, args=(q, delay), daemon=True)
    p.start()
    try:
        port = q.get(timeout=30)
        return asyncio.run(_measure(f"http://127.0.0.1:{port}", n, osl, conc, db))
    finally:
        p.terminate()
        p.join(5)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    args = ap.parse_args(argv)
    k = 4 if args.quick else 1
    loads = [  # name, token delay, requests, output tokens, concurrency
        ("requests", 0.0, 2000 // k, 1, 32),
        ("burst", 0.0, 64 // k, 1000, 8),
        ("paced", 0.002, 64 // k, 200, 32),
    ]
    print(f"{'endpoint':11s} {'load':9s} {'requests':>8s} {'tok/req':>7s} {'conc':>4s} {'wall s':>7s} {'req/s':>8s} "
          f"{'tok/s':>9s} {'CPU us/req':>10s} {'CPU us/tok':>10s}")
    with tempfile.TemporaryDirectory() as d:
        for place in ("in-process", "subprocess"):
            for name, delay, n, osl, conc in loads:
                db = Path(d) / f"{place}-{name}.sqlite"
                r = (asyncio.run(_in_process(delay, n, osl, conc, db)) if place == "in-process"
                     else _subprocess(delay, n, osl, conc, db))
                print(f"{place:11s} {name:9s} {n:8d} {osl:7d} {conc:4d} {r['wall_s']:7.2f} {r['requests_per_s']:8.0f} "
                      f"{r['tokens_per_s']:9.0f} {r['cpu_us_per_request']:10.0f} {r['cpu_us_per_token']:10.1f}")
    print("CPU us = CPU time of the client process (in-process: client + server).  A client that spends X us per "
          "token saturates one core at 1e6/X tokens/s.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
