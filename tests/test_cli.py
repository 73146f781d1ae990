"""The CLI contract: option names, JSON fields, exit code 2 with one paragraph on bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from inferonomics.cli import main
from inferonomics.perf import sweep

PERF_KEYS = {
    "output_tokens_per_s", "output_tokens_per_s_per_gpu", "input_tokens_per_s", "ttft_s", "tpot_s",
    "concurrency", "memory_per_gpu_gib", "fits",
    "memory_per_gpu_gb",  # the deprecated name of memory_per_gpu_gib, kept for scripts
}
COST_KEYS = PERF_KEYS | {"usd_per_gpu_hour", "usd_per_mtok_output", "usd_per_mtok_input", "breakdown_usd_per_gpu_hour"}
BASE = ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--weights", "fp8", "--isl", "1000",
        "--osl", "500"]


def run(capsys, *args):
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_perf_json(capsys):
    rc, out, _ = run(capsys, "perf", *BASE, "--concurrency", "32", "--json")
    assert rc == 0
    d = json.loads(out)
    assert PERF_KEYS <= set(d)
    assert d["fits"] is True and d["concurrency"] == 32
    assert d["output_tokens_per_s_per_gpu"] == pytest.approx(d["output_tokens_per_s"] / 4)
    for name in ("memory_per_gpu", "weights_per_gpu", "kv_per_sequence_per_gpu"):
        assert d[f"{name}_gb"] == d[f"{name}_gib"] > 0, name  # the GiB figure and its deprecated alias


def test_max_throughput_beats_fixed_concurrency(capsys):
    _, out1, _ = run(capsys, "perf", *BASE, "--concurrency", "8", "--json")
    _, out2, _ = run(capsys, "perf", *BASE, "--max-throughput", "--json")
    assert json.loads(out2)["output_tokens_per_s"] > json.loads(out1)["output_tokens_per_s"]


def test_cost_json_rent_and_own(capsys):
    rc, out, _ = run(capsys, "cost", *BASE, "--concurrency", "32", "--rent-usd-per-gpu-hour", "2.5", "--json")
    assert rc == 0
    d = json.loads(out)
    assert COST_KEYS <= set(d) and d["usd_per_gpu_hour"] == 2.5
    rc, out, _ = run(capsys, "cost", *BASE, "--max-throughput", "--own", "--region", "cn-inner-mongolia", "--json")
    d = json.loads(out)
    assert rc == 0 and d["mode"] == "own"
    assert d["usd_per_gpu_hour"] == pytest.approx(sum(d["breakdown_usd_per_gpu_hour"].values()))


def test_tables_render(capsys):
    rc, out, _ = run(capsys, "cost", *BASE, "--concurrency", "16", "--own")
    assert rc == 0 and "USD per M output tokens" in out


def test_frontier_csv(tmp_path, capsys):
    f = tmp_path / "f.csv"
    rc, out, _ = run(capsys, "frontier", *BASE, "--csv", str(f), "--json")
    assert rc == 0
    pts = json.loads(out)["points"]
    assert len(pts) > 5
    lines = f.read_text().splitlines()
    assert len(lines) == len(pts) + 1 and "output_tokens_per_s_per_user" in lines[0]
    assert all(p["memory_per_gpu_gib"] == p["memory_per_gpu_gb"] > 0 for p in pts)  # GiB and its deprecated alias


def test_catalog_commands(capsys):
    for kind in ("accelerators", "models", "regions"):
        rc, out, _ = run(capsys, "catalog", "list", kind, "--json")
        assert rc == 0 and len(json.loads(out)) >= 4
    rc, out, _ = run(capsys, "catalog", "show", "ascend-910b", "--json")
    assert rc == 0 and json.loads(out)["kind"] == "accelerators"
    rc, out, _ = run(capsys, "catalog", "show", "deepseek-v3")
    assert rc == 0 and "kv_lora_rank" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["perf", "--model", "lama-3.1-70b", "--gpu", "h100-sxm", "--concurrency", "1"], "llama-3.1-70b"),
        (["perf", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "3", "--tp", "3", "--concurrency", "1"],
         "must divide the 64 attention heads"),
        (["perf", "--model", "llama-3.1-405b", "--gpu", "h100-sxm", "--concurrency", "1"], "does not fit"),
        (["perf", *BASE], "--concurrency N"),
        (["perf", *BASE, "--concurrency", "4", "--max-throughput"], "not both"),
        (["cost", *BASE, "--concurrency", "4", "--utilization", "2"], "utilization"),
        (["cost", *BASE, "--concurrency", "4", "--region", "cn-est"], "cn-east"),
        (["catalog", "show", "h10-sxm"], "h100-sxm"),
        (["catalog", "list", "gpus"], "accelerators"),
        (["perf", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "two"], "--gpus"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, args, needle):
    rc, out, err = run(capsys, *args)
    assert rc == 2
    assert needle in err
    assert "Traceback" not in err + out


def test_every_listed_model_and_accelerator_works_through_the_cli(capsys, cat):
    """For each model x accelerator, the smallest fitting deployment runs through `perf --json`."""
    accs = sorted(cat.accelerators)
    models = sorted(cat.models)
    df = sweep(models, accs, gpus=[1, 2, 4, 8], weights=["fp8", "bf16"], isl=1024, osl=256, catalog=cat)
    from inferonomics.decide.sizing import native_precision

    native = [native_precision(cat.accelerator(g), w) for g, w in zip(df["gpu"], df["weights"], strict=True)]
    df = df[df.fits & np.asarray(native, bool)].sort_values(["gpus", "weights"], ascending=[True, False])
    picked = df.groupby(["model", "gpu"], as_index=False).first()
    assert set(picked["model"]) == set(models)
    assert set(picked["gpu"]) == set(accs)
    for _, r in picked.iterrows():
        rc, out, err = run(capsys, "perf", "--model", r.model, "--gpu", r.gpu, "--gpus", str(r.gpus), "--weights",
                           r.weights, "--isl", "1024", "--osl", "256", "--max-throughput", "--json")
        assert rc == 0, err
        d = json.loads(out)
        assert d["output_tokens_per_s"] > 0 and d["fits"]


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from inferonomics.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('numpy','pandas','yaml','pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_demo_runs(capsys):
    rc, out, _ = run(capsys, "demo", "--json")
    assert rc == 0
    rows = json.loads(out)["rows"]
    assert len(rows) >= 6
    priced = [r for r in rows if not r["note"]]
    assert len(priced) >= 6
    for r in priced:
        assert r["own_usd_per_mtok_output"] > 0 and r["rent_usd_per_mtok_output"] > 0


@pytest.mark.parametrize("argv", [
    ["catalog", "list", "models"],
    ["compare", "--model", "qwen3-235b-a22b", "--gpu", "h20", "--gpu", "h100-sxm", "--gpus", "8"],
])
def test_tables_fit_80_columns_and_name_what_they_leave_out(argv, monkeypatch, capsys):
    from rich.console import Console

    from inferonomics.cli import _render

    monkeypatch.setattr(_render._LazyConsole, "_console", Console(width=80))
    rc, out, _ = run(capsys, *argv)
    assert rc == 0
    lines = out.splitlines()
    assert max(len(x) for x in lines) <= 80
    if argv[0] == "catalog":
        assert "deepseek-r1 " in out and "dee…" not in out  # slugs whole
        assert "Left out at this terminal width: params bn, active bn, max context" in " ".join(lines)
    else:
        assert "cheapest" in out and "$ per M" in out and "Left out" not in out  # every column, headings whole
