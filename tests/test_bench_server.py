"""``inferonomics bench`` against a real llama.cpp server (llama-cpp-python) on a tiny generated model.

The server needs the optional extra ``bench-server`` (``pip install -e '.[bench-server]'``; CI installs
it).  Without ``llama_cpp`` these tests are skipped, saying why.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import _tiny_llama

from inferonomics.bench import BenchConfig, Store, run_async
from inferonomics.cli import main

_MISSING = [m for m in ("llama_cpp", "gguf", "sentencepiece") if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"needs {', '.join(_MISSING)} (the optional extra: pip install -e '.[bench-server]')",
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("tiny-llama")
    return _tiny_llama.write_gguf(d / "tiny-llama.gguf"), d


@pytest.fixture(scope="session")
def server(tiny_model):
    path, d = tiny_model
    s = _tiny_llama.LlamaServer(path, d).start()
    yield s
    s.kill()


@pytest.fixture
def env(tmp_path, monkeypatch):
    return _tiny_llama.use_tiny_catalog(tmp_path, monkeypatch)


def cli(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_completions_run_exact_lengths_and_every_metric(server, env, capsys):
    isl, osl = 100, 24
    # SLOs far above any latency a loaded machine shows: every request meets them, so goodput is exact
    d = cli(capsys, "bench", "run", "--url", server.url, "-c", "2", "-n", "8", "--isl", str(isl), "--osl", str(osl),
            "--slo-ttft-s", "3600", "--slo-tpot-s", "600", "--out", str(env / "run.json"), "--json")
    s = d["summary"]
    assert d["status"] == "complete" and s["n_ok"] == 8 and s["n_errors"] == 0
    assert d["config"]["endpoint"]["tokenizer"] == "llama-cpp-python /extras/tokenize"
    # Timings: every statistic is there, finite and ordered.  Only TTFT and E2E are surely above zero: on a
    # loaded machine several chunks can arrive in one read, so single gaps (ITL) and even TPOT can be 0.
    for k in ("ttft_s", "tpot_s", "itl_s", "e2e_latency_s"):
        vals = [s[f"{k}_{stat}"] for stat in ("p50", "p90", "p99")]
        assert all(v is not None and 0 <= v < 3600 for v in vals + [s[f"{k}_mean"]]), (k, vals)
        assert vals == sorted(vals), (k, vals)
    assert s["ttft_s_p50"] > 0 and s["e2e_latency_s_p50"] >= s["ttft_s_p50"]
    assert s["goodput_requests_per_s"] == pytest.approx(s["request_throughput_per_s"])
    for k in ("request_throughput_per_s", "output_tokens_per_s", "input_tokens_per_s"):
        assert s[k] > 0
    # counts are exact: tokens per second over the measured window are the token totals over one duration
    assert s["output_tokens_per_s"] / s["request_throughput_per_s"] == pytest.approx(osl)
    assert s["input_tokens_per_s"] / s["request_throughput_per_s"] == pytest.approx(isl)
    # this server sends no usage when streaming: output tokens come from finish_reason=length and max_tokens
    assert s["output_tokens_source"] == {"length": 8}
    assert s["input_tokens_source"] == {"tokenizer": 8}
    with Store() as st:
        run = st.load(d["id"])
    for rec in run.records:
        assert rec.output_tokens == osl and rec.output_chunks == osl  # one token per chunk, exactly max_tokens
        assert len(rec.itl_s) == osl - 1 and rec.finish_reason == "length"
        assert rec.input_tokens == isl  # exact synthetic input length, as the server counts it (with BOS)
        assert rec.output_text.encode("utf-8").decode("utf-8") == rec.output_text


def test_chat_and_poisson_runs(server, env, capsys):
    d = cli(capsys, "bench", "run", "--url", server.url + "/v1", "--api", "chat", "-c", "2", "-n", "4", "--isl", "48",
            "--osl", "8", "--json")
    assert d["summary"]["n_ok"] == 4 and d["summary"]["input_tokens_mean"] == 48
    d = cli(capsys, "bench", "run", "--url", server.url, "--rate", "50", "-n", "6", "--isl", "32", "--osl", "8",
            "--output-tokens-from", "tokenizer,chunks", "--json")
    assert d["summary"]["n_ok"] == 6 and d["summary"]["output_tokens_source"] == {"tokenizer": 6}
    assert d["summary"]["mean_concurrency"] > 0


def test_cost_and_calibration_from_measured_runs(server, env, capsys):
    ids = [cli(capsys, "bench", "run", "--url", server.url, "-c", "1", "-n", "3", "--isl", str(isl), "--osl", "32",
               "--json")["id"] for isl in (32, 256)]
    c = cli(capsys, "bench", "cost", ids[0], "--usd-per-gpu-hour", "1.5", "--gpus", "1", "--json")
    assert c["usd_per_mtok_output"] > 0 and c["usd_per_mtok_input"] > 0
    assert c["usd_per_mtok_output_all_in"] == pytest.approx(1.5 / (c["output_tokens_per_s"] * 3600 * 0.6) * 1e6)
    own = cli(capsys, "bench", "cost", ids[0], "--gpu", "test-cpu", "--own", "--json")
    assert own["mode"] == "own" and own["usd_per_mtok_output"] > 0

    res = cli(capsys, "calibrate", *ids, "--model", "tiny-llama", "--gpu", "test-cpu", "--json")
    assert res["n_points"] == 6
    # The fit starts at the catalog's factors and only takes steps that lower its robust loss (soft-L1 on log
    # errors, plus a prior that is 0 at the start), so that loss over the measured points cannot rise; the
    # median error can, by chance, on a noisy machine, so it is not what is asserted.
    import numpy as np

    def soft_l1(key):
        r = np.log(np.array([p[key] for p in res["points"]]) / np.array([p["measured"] for p in res["points"]]))
        return float(np.sum(2 * (np.sqrt(1 + (r / 0.15) ** 2) - 1)))

    assert soft_l1("predicted_after") <= soft_l1("predicted_before") + 1e-9
    assert Path(res["file"]).name == "calibration-test-cpu.yaml"
    perf = cli(capsys, "perf", "--model", "tiny-llama", "--gpu", "test-cpu", "--concurrency", "1", "--isl", "32",
               "--osl", "32", "--json")
    pt = next(p for p in res["points"] if p["metric"] == "tpot_s" and p["isl"] == 32)
    assert perf["tpot_s"] == pytest.approx(pt["predicted_after"], rel=1e-3)
    cost = cli(capsys, "cost", "--model", "tiny-llama", "--gpu", "test-cpu", "--concurrency", "1", "--isl", "32",
               "--osl", "32", "--json")
    assert cost["tpot_s"] == pytest.approx(perf["tpot_s"])


def test_timeouts_are_errors_and_the_run_goes_on(server, env):
    async def go():
        with Store() as st:
            # --timeout covers setup requests too (probe, tokenizer): 0.25 s leaves them room on a loaded
            # machine, while 900 output tokens take about 0.6 s even on a quiet one, so every request times out
            cfg = BenchConfig(url=server.url, concurrency=1, num_requests=3, isl=16, osl=900, timeout_s=0.25)
            return await run_async(cfg, st)

    r = asyncio.run(go())
    assert r.status == "complete" and len(r.records) == 3
    assert r.summary["errors_by_type"] == {"exception:Timeout": 3}


def test_server_killed_mid_run(tiny_model, env):
    path, d = tiny_model
    srv = _tiny_llama.LlamaServer(path, d).start()
    try:
        async def go():
            with Store() as st:
                cfg = BenchConfig(url=srv.url, concurrency=2, num_requests=100, isl=16, osl=48,
                                  max_consecutive_connect_errors=3)

                def progress(done, total, rec):
                    if done == 5:
                        srv.kill()

                return await run_async(cfg, st, progress=progress), st.load("latest")

        r, stored = asyncio.run(go())
    finally:
        srv.kill()
    assert r.status == "incomplete" and "stopped answering" in r.reason
    assert stored.status == "incomplete"
    assert sum(x.ok for x in stored.records) >= 5  # nothing measured before the kill is lost
    assert any(x.error_kind == "exception" for x in stored.records)
    assert len(stored.records) < 100
