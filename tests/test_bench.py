"""The load generator against a canned local endpoint: definitions, storage, faults, interrupts, CLI, money.

The real llama.cpp server is in test_bench_server.py; here a scripted asyncio server
(:mod:`inferonomics.bench.fakeserver`) makes every fault happen on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferonomics.bench import BenchConfig, RequestRecord, Store, measured_cost, run_async, summarize
from inferonomics.bench.client import SSEParser, delta_text, split_url
from inferonomics.bench.fakeserver import Behaviour, FakeServer
from inferonomics.bench.metrics import good_mask
from inferonomics.bench.records import count_output_tokens
from inferonomics.bench.runner import sweep_async, sweep_levels
from inferonomics.bench.store import Run
from inferonomics.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import _tiny_llama


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("INFERONOMICS_DATA_DIR", str(d))
    return d


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "runs.sqlite")
    yield s
    s.close()


def run(coro):
    return asyncio.run(coro)


async def _with_server(script, fn, **kw):
    srv = FakeServer(script, **kw)
    await srv.start()
    try:
        return await fn(srv)
    finally:
        await srv.stop()


# --- SSE parsing and the definitions -------------------------------------------------------------------
def test_sse_parser_crlf_multiline_comments_and_flush():
    p = SSEParser()
    evs = p.feed(b": ping\r\n\r\ndata: {\"a\": 1}\r\n\r\ndata: x\ndata: y\n\nevent: error\ndata: {}\n\ndata: tail")
    assert evs == [(b"", b'{"a": 1}'), (b"", b"x\ny"), (b"error", b"{}")]
    assert p.flush() == [(b"", b"tail")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_sse_parser_any_chunking_gives_the_same_events(cuts):
    stream = b"".join(b'data: {"choices": [{"text": "t%d"}]}\r\n\r\n' % i for i in range(12)) + b"data: [DONE]\n\n"
    p, evs, pos = SSEParser(), [], 0
    for c in cuts:
        evs += p.feed(stream[pos:pos + c])
        pos += c
    evs += p.feed(stream[pos:]) + p.flush()
    assert [d for _, d in evs] == [b'{"choices": [{"text": "t%d"}]}' % i for i in range(12)] + [b"[DONE]"]


def test_delta_text_counts_content_reasoning_and_tools_not_role_chunks():
    assert delta_text({"choices": [{"delta": {"role": "assistant"}}]}) == ""
    assert delta_text({"choices": [{"delta": {"role": "assistant", "content": ""}}]}) == ""
    assert delta_text({"choices": [{"delta": {"content": "hi"}}]}) == "hi"
    assert delta_text({"choices": [{"delta": {"reasoning_content": "hm"}}]}) == "hm"
    assert delta_text({"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "{\"x\""}}]}}]}) == "{\"x\""
    assert delta_text({"choices": [{"text": "abc"}]}) == "abc"
    assert delta_text({"choices": [], "usage": {"completion_tokens": 3}}) == ""


def test_split_url():
    assert split_url("http://h:8000/v1/") == "http://h:8000"
    assert split_url("http://h:8000") == "http://h:8000"


def test_output_token_sources_in_order():
    order = ("usage", "length", "tokenizer", "chunks")
    assert count_output_tokens(order, 7, "length", 8, 9, 10) == (7, "usage")
    assert count_output_tokens(order, None, "length", 8, 9, 10) == (8, "length")
    assert count_output_tokens(order, None, "stop", 8, 9, 10) == (9, "tokenizer")
    assert count_output_tokens(order, None, "stop", 8, None, 10) == (10, "chunks")
    assert count_output_tokens(("tokenizer",), None, None, None, None, 3) == (None, None)


def test_tpot_definition_hand_computed():
    r = RequestRecord(idx=0, ok=True, start_s=1.0, end_s=2.0, ttft_s=0.1, output_tokens=10).finalize()
    assert r.e2e_s == pytest.approx(1.0)
    assert r.tpot_s == pytest.approx(0.9 / 9)
    one = RequestRecord(idx=1, ok=True, start_s=0.0, end_s=0.5, ttft_s=0.5, output_tokens=1).finalize()
    assert one.tpot_s is None


def _rec(i, start, ttft, e2e, out, ok=True, inp=100, kind=None, itl=(), phase="measure"):
    return RequestRecord(idx=i, phase=phase, ok=ok, start_s=start, end_s=start + e2e, ttft_s=ttft, output_tokens=out,
                         input_tokens=inp, input_tokens_source="tokenizer", output_tokens_source="usage",
                         error_kind=kind, error_type=kind and "x", itl_s=list(itl)).finalize()


def test_summary_hand_computed():
    recs = [
        _rec(0, 0.0, 0.2, 1.2, 11, itl=[0.1] * 10),    # TPOT 0.1
        _rec(1, 0.5, 0.4, 2.5, 22, itl=[0.1] * 21),    # TPOT 0.1, ends at 3.0
        _rec(2, 1.0, None, 0.5, 0, ok=False, kind="http"),
        _rec(9, -5.0, 0.1, 0.2, 5, phase="warmup"),    # never aggregated
    ]
    s = summarize(recs, slo_ttft_s=0.3)
    assert s["n_requests"] == 3 and s["n_ok"] == 2 and s["n_errors"] == 1
    assert s["duration_s"] == pytest.approx(3.0)
    assert s["request_throughput_per_s"] == pytest.approx(2 / 3)
    assert s["output_tokens_per_s"] == pytest.approx(33 / 3)
    assert s["input_tokens_per_s"] == pytest.approx(200 / 3)
    assert s["ttft_s_mean"] == pytest.approx(0.3)
    assert s["tpot_s_mean"] == pytest.approx(0.1)
    assert s["itl_s_p50"] == pytest.approx(0.1)
    assert s["mean_concurrency"] == pytest.approx((1.2 + 2.5 + 0.5) / 3)
    assert s["errors_by_kind"] == {"http": 1}
    assert s["n_good"] == 1 and s["goodput_requests_per_s"] == pytest.approx(1 / 3)
    assert s["goodput_output_tokens_per_s"] == pytest.approx(11 / 3)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.001, 5), st.one_of(st.none(), st.floats(0.0001, 1)), st.booleans()),
             min_size=1, max_size=30),
    st.floats(0.001, 5), st.floats(0.0001, 1),
)
def test_goodput_invariants(rows, slo_ttft, slo_tpot):
    ttft = np.array([r[0] for r in rows])
    tpot = np.array([np.nan if r[1] is None else r[1] for r in rows])
    ok = np.array([r[2] for r in rows])
    g = good_mask(ttft, tpot, ok, slo_ttft, slo_tpot)
    assert g.sum() <= ok.sum()
    assert (g <= good_mask(ttft, tpot, ok, slo_ttft * 2, slo_tpot * 2)).all()  # looser SLOs never lose requests
    assert (good_mask(ttft, tpot, ok) == ok).all()


# --- storage -----------------------------------------------------------------------------------------
def test_store_round_trip_and_references(store):
    rid = store.create_run({"url": "http://x", "mode": "concurrency", "concurrency": 2}, sweep_id="sweep-1")
    recs = [_rec(i, i * 0.1, 0.01, 0.5, 8, itl=[0.05] * 7) for i in range(3)]
    for r in recs:
        store.add(rid, r)
    store.finish_run(rid, "complete", None, summarize(recs))
    back = store.load(rid[:12] if len(store.list_runs()) == 1 else rid)
    assert back.status == "complete" and len(back.records) == 3
    assert list(back.records[1].itl_s) == pytest.approx([0.05] * 7, rel=1e-6)
    assert back.records[2].tpot_s == pytest.approx(recs[2].tpot_s)
    df = back.frame()
    assert len(df) == 3 and list(df["n_itl"]) == [7, 7, 7] and "ttft_s" in df
    assert store.resolve("latest") == [rid]
    assert store.resolve("sweep-1") == [rid]
    with pytest.raises(Exception, match="run: 'nope' is unknown"):
        store.resolve("nope")


def test_run_of_a_dead_process_reads_incomplete(store):
    rid = store.create_run({"url": "http://x"})
    store.db.execute("UPDATE runs SET pid=? WHERE id=?", (2**22 + 12345, rid))
    r = store.load(rid)
    assert r.status == "incomplete" and "ended without closing" in r.reason


def test_records_are_committed_as_they_complete(tmp_path):
    """A second connection (another process, say) sees each record as soon as it is added."""
    s = Store(tmp_path / "r.sqlite")
    rid = s.create_run({"url": "http://x"})
    other = sqlite3.connect(str(tmp_path / "r.sqlite"))
    for i in range(3):
        s.add(rid, _rec(i, 0, 0.1, 0.2, 3))
        assert other.execute("SELECT count(*) FROM requests WHERE run_id=?", (rid,)).fetchone()[0] == i + 1
    assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# --- runs against the canned endpoint ----------------------------------------------------------------------
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_run_measures_every_request(store, api):
    async def go(srv):
        cfg = BenchConfig(url=srv.url + "/v1", api=api, concurrency=4, num_requests=16, isl=40, osl=12,
                          slo_ttft_s=1.0)
        return await run_async(cfg, store)

    r = run(_with_server(lambda i, b: Behaviour(token_delay_s=0.001), go))
    s = r.summary
    assert r.status == "complete" and s["n_ok"] == 16 and s["n_errors"] == 0
    assert s["output_tokens_mean"] == 12 and s["output_tokens_source"] == {"usage": 16}
    assert s["input_tokens_mean"] == 40  # exact: the probe measured the server's per-prompt tokens
    for rec in r.records:
        assert rec.output_chunks == 12 and len(rec.itl_s) == 11
        assert 0 < rec.ttft_s < rec.e2e_s
    assert len(store.load(r.id).records) == 16


def test_warmup_is_stored_not_aggregated_and_duration_stops_sending(store):
    async def go(srv):
        a = await run_async(BenchConfig(url=srv.url, concurrency=2, num_requests=4, warmup=3, isl=10, osl=4), store)
        b = await run_async(BenchConfig(url=srv.url, concurrency=1, num_requests=1000, duration_s=0.05, isl=10,
                                        osl=4, keep_text=False), store)
        return a, b

    a, b = run(_with_server(lambda i, b: Behaviour(token_delay_s=0.002), go))
    stored = store.load(a.id).records
    assert sorted(r.phase for r in stored) == ["measure"] * 4 + ["warmup"] * 3
    assert a.summary["n_requests"] == 4
    assert b.status == "complete" and 1 <= b.summary["n_requests"] < 1000
    assert all(r.output_text is None for r in store.load(b.id).records)


def test_role_only_chunk_does_not_count_as_first_token(store):
    # the role chunk arrives at once, the first content after 50 ms: TTFT must include the wait
    async def go(srv):
        return await run_async(BenchConfig(url=srv.url, api="chat", num_requests=2, isl=10, osl=3), store)

    class Late(FakeServer):
        async def _generate(self, chat, body, b, writer):
            if not body.get("stream"):
                return await super()._generate(chat, body, b, writer)
            ev = self._events(chat, 3, True)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
            writer.write(b"%x\r\n%s\r\n" % (len(ev[0]), ev[0]))
            await writer.drain()
            await asyncio.sleep(0.05)
            for e in ev[1:] + [b"data: [DONE]\n\n"]:
                writer.write(b"%x\r\n%s\r\n" % (len(e), e))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True

    async def main():
        srv = Late()
        await srv.start()
        try:
            return await go(srv)
        finally:
            await srv.stop()

    r = run(main())
    assert all(rec.ttft_s >= 0.045 for rec in r.records)


def test_faults_are_recorded_and_the_run_goes_on(store):
    kinds = {1: "http_500", 2: "malformed", 3: "error_event", 4: "empty", 5: "drop", 6: "truncated", 7: "hang",
             8: "no_done"}

    def script(i, body):
        if not body.get("stream"):
            return Behaviour()  # the probe
        return Behaviour(kinds.get(i % 10, "ok"), token_delay_s=0.001)

    async def go(srv):
        cfg = BenchConfig(url=srv.url, concurrency=3, num_requests=20, isl=20, osl=6, timeout_s=0.5)
        return await run_async(cfg, store)

    r = run(_with_server(script, go))
    assert r.status == "complete"
    assert len(r.records) == 20  # every request recorded, failed or not
    by_type = r.summary["errors_by_type"]
    assert by_type["http:500"] >= 1
    assert by_type["stream:malformed_sse"] >= 1
    assert by_type["stream:error_event"] >= 1
    assert by_type["empty:no_output"] >= 1
    assert by_type["stream:truncated"] >= 1
    assert by_type["exception:Timeout"] >= 1
    assert any(k.startswith("exception:") and k != "exception:Timeout" for k in by_type)  # connection dropped
    assert r.summary["n_ok"] >= 6 and r.summary["tpot_s_mean"] > 0
    http = [x for x in r.records if x.error_kind == "http"]
    assert http[0].http_status == 500 and "internal error" in http[0].error_detail
    stored = store.load(r.id)
    assert sorted(x.idx for x in stored.records) == list(range(20))


def test_killed_server_stops_the_run_incomplete_and_keeps_what_was_measured(store):
    async def go(srv):
        cfg = BenchConfig(url=srv.url, concurrency=2, num_requests=200, isl=10, osl=20, timeout_s=5,
                          max_consecutive_connect_errors=3)

        def progress(done, total, rec):
            if done == 6:
                asyncio.get_running_loop().create_task(srv.stop())

        return await run_async(cfg, store, progress=progress)

    r = run(_with_server(lambda i, b: Behaviour(token_delay_s=0.002), go))
    assert r.status == "incomplete" and "stopped answering" in r.reason
    stored = store.load(r.id)
    assert stored.status == "incomplete"
    assert sum(x.ok for x in stored.records) >= 6
    assert any(x.error_kind == "exception" for x in stored.records)
    assert len(stored.records) < 200


def test_cancelled_run_is_incomplete_and_keeps_its_records(store):
    async def go(srv):
        cfg = BenchConfig(url=srv.url, concurrency=2, num_requests=100, isl=10, osl=10)
        task = asyncio.create_task(run_async(cfg, store, run_id="r-cancel"))
        while True:
            await asyncio.sleep(0.01)
            n = store.db.execute("SELECT count(*) FROM requests WHERE run_id='r-cancel'").fetchone()[0]
            if n >= 5:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(_with_server(lambda i, b: Behaviour(token_delay_s=0.002), go))
    r = store.load("r-cancel")
    assert r.status == "incomplete" and "interrupted" in r.reason
    assert 5 <= len(r.records) < 100 and all(x.ok for x in r.records)
    assert r.summary["n_ok"] == len(r.records)


def test_poisson_arrivals_are_seeded_and_recorded(store):
    async def go(srv):
        cfg = BenchConfig(url=srv.url, mode="rate", rate_per_s=200.0, num_requests=20, isl=10, osl=4, seed=3)
        return await run_async(cfg, store)

    a = run(_with_server(lambda i, b: Behaviour(), go))
    b = run(_with_server(lambda i, b: Behaviour(), go))
    sa = sorted(x.scheduled_s for x in a.records)
    assert sa == sorted(x.scheduled_s for x in b.records)
    assert sa[0] == 0.0 and sa[-1] > 0.02
    assert all(x.start_s >= x.scheduled_s - 1e-6 for x in a.records)


def test_sweep_stops_when_throughput_stops_rising(store):
    # a server that streams one request at a time: throughput is flat beyond concurrency 1
    async def go(srv):
        cfg = BenchConfig(url=srv.url, num_requests=4, isl=10, osl=8, max_concurrency=16)
        return await sweep_async(cfg, store)

    sid, runs = run(_with_server(lambda i, b: Behaviour(token_delay_s=0.003), go, max_parallel=1))
    levels = [r.config["concurrency"] for r in runs]
    assert levels == [1, 2, 4, 8, 16][: len(levels)] and len(levels) < 5
    tps = [r.summary["output_tokens_per_s"] for r in runs]
    assert tps[-1] < 1.05 * max(tps[:-1])  # the rule that stopped it
    assert store.resolve(sid) == [r.id for r in runs]
    assert sweep_levels(1, 12) == [1, 2, 4, 8, 12]


@pytest.mark.parametrize("stream_usage", [True, False])
def test_input_lengths_without_a_tokenize_route(store, stream_usage):
    """No tokenize route: prompt lengths are calibrated from the usage of two probe requests."""
    async def go(srv):
        return await run_async(BenchConfig(url=srv.url, num_requests=3, isl=50, osl=4), store)

    r = run(_with_server(lambda i, b: Behaviour(usage=stream_usage), go, tokenize=False))
    assert r.config["endpoint"]["tokenizer"] is None and r.config["endpoint"]["tokens_per_word"] == 1.0
    src = "usage" if stream_usage else "calibrated"
    assert r.summary["input_tokens_source"] == {src: 3}
    assert r.summary["input_tokens_mean"] == 50  # the fake server counts one token per word, plus one
    assert r.summary["output_tokens_source"] == ({"usage": 3} if stream_usage else {"length": 3})


def test_jsonl_prompts(store, tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "a b c d", "max_tokens": 3}\n\n{"messages": [{"role": "user", "content": "x y"}]}\n')

    async def go(srv):
        return await run_async(BenchConfig(url=srv.url, prompts_file=str(f), num_requests=4, osl=5), store)

    r = run(_with_server(lambda i, b: Behaviour(), go))
    assert [x.max_tokens for x in sorted(r.records, key=lambda x: x.idx)] == [3, 5, 3, 5]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "no prompt"}\n')
    with pytest.raises(Exception, match=r"bad.jsonl: line 1"):
        run(_with_server(lambda i, b: Behaviour(),
                         lambda srv: run_async(BenchConfig(url=srv.url, prompts_file=str(bad)), store)))


# --- CLI -----------------------------------------------------------------------------------------------
def cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_run_list_show_compare_cost(capsys, data_dir, tmp_path):
    srv = FakeServer(lambda i, b: Behaviour(token_delay_s=0.001) if i % 5 else Behaviour("http_500"))
    out_json = tmp_path / "run.json"
    with srv.running_in_thread():
        rc, out, err = cli(capsys, "bench", "run", "--url", srv.url, "-c", "2", "-n", "10", "--isl", "30", "--osl", "8",
                           "--slo-ttft-s", "1", "--out", str(out_json), "--json")
        assert rc == 0, err
        d = json.loads(out)
        rc, out, _ = cli(capsys, "bench", "run", "--url", srv.url, "--rate", "100", "-n", "6", "--isl", "30",
                         "--osl", "8", "--json")
        assert rc == 0
        d2 = json.loads(out)
    assert d["status"] == "complete" and d["summary"]["n_requests"] == 10
    for k in ("ttft_s_p50", "tpot_s_mean", "itl_s_p99", "e2e_latency_s_p90", "request_throughput_per_s",
              "output_tokens_per_s", "input_tokens_per_s", "goodput_requests_per_s", "errors_by_kind"):
        assert k in d["summary"]
    assert d["summary"]["errors_by_kind"].get("http", 0) >= 1
    saved = json.loads(out_json.read_text())
    assert len(saved["records"]) == 10 and saved["summary"]["n_ok"] == d["summary"]["n_ok"]
    assert Path(d["database"]).parent == data_dir

    rc, out, _ = cli(capsys, "bench", "list", "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [d["id"], d2["id"]]
    rc, out, _ = cli(capsys, "bench", "show", d["id"][:18], "--json", "--requests", "--slo-tpot-s", "1e-9")
    shown = json.loads(out)
    assert shown["id"] == d["id"] and len(shown["records"]) == 10
    rc, out, _ = cli(capsys, "bench", "show", d["id"], "--requests", "--csv", str(tmp_path / "r.csv"))
    assert rc == 0 and "requests of run" in out
    assert len((tmp_path / "r.csv").read_text().splitlines()) == 11
    assert shown["summary"]["n_good"] == 0  # no request meets a 1 ns TPOT objective
    rc, out, _ = cli(capsys, "bench", "compare", d["id"], "latest", "--json")
    assert [r["id"] for r in json.loads(out)["runs"]] == [d["id"], d2["id"]]

    rc, out, _ = cli(capsys, "bench", "cost", d["id"], "--usd-per-gpu-hour", "2", "--gpus", "2", "--utilization",
                     "1", "--json")
    c = json.loads(out)
    tps = d["summary"]["output_tokens_per_s"]
    assert c["usd_per_mtok_output_all_in"] == pytest.approx(2 * 2 / (tps * 3600) * 1e6)
    assert c["usd_per_mtok_output"] < c["usd_per_mtok_output_all_in"]
    rc, out, _ = cli(capsys, "bench", "cost", d["id"], "--gpu", "h100-sxm", "--own", "--json")
    own = json.loads(out)
    assert own["mode"] == "own" and own["usd_per_gpu_hour"] > 0 and own["utilization"] == 0.6

    for args in (["bench", "show", "nope"], ["bench", "cost", d["id"]],
                 ["bench", "run", "--url", "ftp://x"], ["bench", "run", "--url", "http://x", "-c", "2", "--rate", "3"]):
        rc, out, err = cli(capsys, *args)
        assert rc == 2 and "Traceback" not in err and err.startswith("error:"), (args, err)
    assert cli(capsys, "bench", "delete", d2["id"], "--json")[0] == 0
    assert len(json.loads(cli(capsys, "bench", "list", "--json")[1])["runs"]) == 1


def test_cli_unreachable_server_is_one_paragraph(capsys, data_dir):
    port = _tiny_llama.free_port()
    rc, _out, err = cli(capsys, "bench", "run", "--url", f"http://127.0.0.1:{port}", "-n", "2")
    assert rc == 2 and "cannot connect" in err and "Traceback" not in err


def test_cli_ctrl_c_keeps_the_measured_requests(data_dir, tmp_path):
    srv = FakeServer(lambda i, b: Behaviour(token_delay_s=0.01))
    out_json = tmp_path / "partial.json"
    with srv.running_in_thread():
        env = {**os.environ, "INFERONOMICS_DATA_DIR": str(data_dir)}
        p = subprocess.Popen(
            [sys.executable, "-m", "inferonomics", "bench", "run", "--url", srv.url, "-c", "2", "-n", "500", "--isl",
             "10", "--osl", "10", "--out", str(out_json)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # a shell that runs us in the background ignores SIGINT, and children inherit that: restore it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        db = data_dir / "bench.sqlite"
        deadline = time.monotonic() + 60
        n = 0
        while time.monotonic() < deadline and n < 4:
            time.sleep(0.1)
            if db.exists():
                try:
                    n = sqlite3.connect(str(db)).execute("SELECT count(*) FROM requests").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    with Store(db) as s:
        r = s.load("latest")
    assert r.status == "incomplete" and 4 <= len(r.records) < 500
    assert len(json.loads(out_json.read_text())["records"]) == len(r.records)


# --- money and calibration ------------------------------------------------------------------------------
def _synthetic_run(tps_out: float, n: int = 10) -> Run:
    # n requests back to back over 10 s, each 100 input and tps_out output tokens per second overall
    recs = [_rec(i, i * 1.0, 0.25, 1.0, int(tps_out), inp=100) for i in range(n)]
    return Run(id="r1", created_at="", status="complete", config={"mode": "concurrency", "concurrency": 1},
               records=recs)


def test_measured_cost_hand_computed(cat):
    r = _synthetic_run(500.0)
    c = measured_cost(r, usd_per_gpu_hour=3.6, gpus=2, utilization=0.5, catalog=cat)
    # 5000 output tokens in 10 s = 500 tok/s, 250 per GPU; a GPU-hour at 50% makes 450,000 output tokens
    assert c["output_tokens_per_s"] == pytest.approx(500.0)
    assert c["usd_per_mtok_output_all_in"] == pytest.approx(3.6 / 450_000 * 1e6)
    assert c["prefill_time_share"] == pytest.approx(0.25)
    assert c["usd_per_mtok_output"] == pytest.approx(0.75 * 3.6 / 450_000 * 1e6)
    assert c["usd_per_mtok_input"] == pytest.approx(0.25 * 3.6 / (50 * 3600 * 0.5) * 1e6)
    with pytest.raises(Exception, match="usd-per-gpu-hour"):
        measured_cost(r, gpus=1, catalog=cat)
    with pytest.raises(Exception, match="gpus"):
        measured_cost(r, usd_per_gpu_hour=1, gpus=0, catalog=cat)


def test_calibrate_on_runs_of_a_batching_server(capsys, data_dir, tmp_path, monkeypatch):
    """An endpoint with a fixed time per token that streams every request in parallel (ideal batching): the
    fit must get closer to what was measured, and perf must then use the calibration file."""
    catdir = _tiny_llama.write_catalog(tmp_path / "catalog")
    monkeypatch.setenv("INFERONOMICS_CATALOG_DIR", str(catdir))
    srv = FakeServer(lambda i, b: Behaviour(token_delay_s=0.004, first_delay_s=0.01))
    ids = []
    with srv.running_in_thread():
        for c in (1, 4):
            rc, out, err = cli(capsys, "bench", "run", "--url", srv.url, "-c", str(c), "-n", str(2 * c), "--isl",
                               "64", "--osl", "16", "--json")
            assert rc == 0, err
            ids.append(json.loads(out)["id"])
    rc, out, err = cli(capsys, "calibrate", *ids, "--model", "tiny-llama", "--gpu", "test-cpu", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["family"] == "test-cpu" and res["n_points"] == 6
    assert res["median_abs_error_after"] < res["median_abs_error_before"]
    f = Path(res["file"])
    assert f.parent == catdir and f.name == "calibration-test-cpu.yaml"
    import yaml

    rec = yaml.safe_load(f.read_text())["efficiency"][0]
    assert rec["family"] == "test-cpu"
    assert rec["step_overhead_s"]["source"].startswith(f"calibrated from run {min(ids)}")
    assert rec["step_overhead_s"]["date"]
    rc, out, _ = cli(capsys, "perf", "--model", "tiny-llama", "--gpu", "test-cpu", "--concurrency", "1", "--isl",
                     "64", "--osl", "16", "--json")
    tpot_pred = json.loads(out)["tpot_s"]
    p = next(x for x in res["points"] if x["metric"] == "tpot_s" and x["concurrency"] == 1)
    assert tpot_pred == pytest.approx(p["predicted_after"], rel=1e-3)
    rc, out, err = cli(capsys, "calibrate", ids[0], "--model", "tiny-llama", "--gpu", "h100-sxmm")
    assert rc == 2 and "Did you mean h100-sxm" in err

    # a built-in family: the user file overrides the built-in record of that family, and only that one
    from inferonomics.catalog import get_catalog, load_catalog

    builtin = load_catalog(None)
    rc, out, err = cli(capsys, "calibrate", *ids, "--model", "tiny-llama", "--gpu", "h100-sxm", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["family"] == "hopper" and Path(res["file"]).name == "calibration-hopper.yaml"
    cat = get_catalog()
    assert cat.origin["efficiency:hopper"] == res["file"]
    assert cat.efficiency["hopper"].step_overhead_s.value == pytest.approx(res["factors_after"]["step_overhead_s"],
                                                                           rel=1e-4)
    assert cat.efficiency["ampere"] == builtin.efficiency["ampere"]
