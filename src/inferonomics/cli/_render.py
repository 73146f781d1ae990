"""Rendering of CLI results: Rich tables for people, JSON for scripts (same field names)."""

from __future__ import annotations

import json
import math
import sys


class _LazyConsole:
    """Rich's console, created on first use: a command that prints JSON never imports Rich."""

    _console = None

    def __getattr__(self, name: str):
        if _LazyConsole._console is None:
            from rich.console import Console

            _LazyConsole._console = Console()
        return getattr(_LazyConsole._console, name)


console = _LazyConsole()


def Table(*args, **kwargs):  # noqa: N802 (stands for rich.table.Table, imported on first use)
    from rich.table import Table as _Table

    return _Table(*args, **kwargs)


def _jsonable(v):
    from inferonomics._lazy import loaded

    npm = loaded("numpy")  # a NumPy scalar can only exist if NumPy is imported: never import it here
    if npm is not None and isinstance(v, npm.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n")


def _fmt(v) -> str:
    """A table cell: the one presentation layer's plain number (no scientific notation, ``-`` if missing)."""
    from inferonomics.present import number

    return number(v)


PERF_ROWS = [
    ("output_tokens_per_s", "output tokens/s (deployment)"),
    ("output_tokens_per_s_per_gpu", "output tokens/s per GPU"),
    ("input_tokens_per_s", "input tokens/s (deployment)"),
    ("output_tokens_per_s_per_user", "output tokens/s per user"),
    ("ttft_s", "TTFT (s)"),
    ("tpot_s", "TPOT (s)"),
    ("e2e_latency_s", "end-to-end latency (s)"),
    ("concurrency", "concurrency (requests in flight)"),
    ("running_concurrency", "running concurrency"),
    ("max_concurrency", "max concurrency that fits"),
    ("replicas", "replicas"),
    ("memory_per_gpu_gib", "memory per GPU (GiB)"),
    ("weights_per_gpu_gib", "weights per GPU (GiB)"),
    ("decode_step_s", "decode step (s)"),
    ("prefill_s", "prefill of one prompt (s)"),
    ("decode_memory_bound", "decode memory-bound"),
    ("fits", "fits"),
]

# Shown only where they apply (disaggregated pools, MTP, expert parallelism, prefix caching, SLO).
PRODUCTION_ROWS = [
    ("prefill_gpus", "prefill GPUs"),
    ("decode_gpus", "decode GPUs"),
    ("prefill_input_tokens_per_s_per_gpu", "input tokens/s per prefill GPU"),
    ("prefill_capacity_input_tokens_per_s_per_gpu", "prefill capacity, input tokens/s per prefill GPU"),
    ("prefill_utilization", "prefill pool utilization"),
    ("decode_output_tokens_per_s_per_gpu", "output tokens/s per decode GPU"),
    ("kv_transfer_s", "KV-cache transfer (s)"),
    ("prefix_hit_rate", "prefix-cache hit rate"),
    ("tokens_per_step", "tokens per decode step (MTP)"),
    ("expert_imbalance", "expert load max/mean"),
    ("max_tpot_s", "TPOT target (s)"),
    ("max_ttft_s", "TTFT target (s)"),
]


def _shown(r: dict, key: str) -> bool:
    v = r.get(key)
    if v is None or isinstance(v, bool):
        return False
    if key == "tokens_per_step":
        return r.get("mtp_tokens", 0) > 0
    if key == "expert_imbalance":
        return max(r.get("ep", 1), r.get("prefill_ep", 1)) > 1
    if key == "prefix_hit_rate":
        return v > 0
    return isinstance(v, (int, float)) and math.isfinite(v)


COST_ROWS = [
    ("usd_per_gpu_hour", "USD per GPU-hour"),
    ("usd_per_mtok_output", "USD per M output tokens"),
    ("usd_per_mtok_input", "USD per M input tokens"),
    ("usd_per_mtok_output_all_in", "USD per M output tokens, all-in"),
    ("usd_per_mtok_blended", "USD per M tokens, blended"),
    ("usd_per_mtok_input_cache_miss", "USD per M input tokens, cache miss"),
    ("usd_per_mtok_input_cache_hit", "USD per M input tokens, cache hit"),
    ("utilization", "utilization"),
]


def _title(r: dict) -> str:
    if r.get("prefill_gpus") and r.get("decode_gpus") and r.get("decode_gpus") == r.get("decode_gpus"):
        return (
            f"{r['model']} on {r['gpus']}x {r['gpu']}, disaggregated: prefill {_fmt(r['prefill_gpus'])} GPUs "
            f"(tp={r['prefill_tp']} ep={r['prefill_ep']}), decode {_fmt(r['decode_gpus'])} GPUs (tp={r['tp']} "
            f"ep={r['ep']}), weights {r['weights']}, kv {r['kv']}, ISL {r['isl']} / OSL {r['osl']}"
        )
    return (
        f"{r['model']} on {r['gpus']}x {r['gpu']} (tp={r['tp']} pp={r['pp']} ep={r['ep']}, "
        f"weights {r['weights']}, kv {r['kv']}, ISL {r['isl']} / OSL {r['osl']})"
    )


def result(r: dict, as_json: bool, kind: str) -> None:
    if as_json:
        print_json(r)
        return
    t = Table(title=_title(r), show_header=True, header_style="bold")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for key, label in PERF_ROWS:
        t.add_row(label, _fmt(r[key]))
    extra = [(k, lab) for k, lab in PRODUCTION_ROWS if _shown(r, k)]
    if extra:
        t.add_section()
        for key, label in extra:
            t.add_row(label, _fmt(r[key]))
    if kind == "cost":
        t.add_section()
        for key, label in COST_ROWS:
            t.add_row(label, _fmt(r[key]))
        t.add_section()
        for k, v in r["breakdown_usd_per_gpu_hour"].items():
            t.add_row("  " + k.replace("_usd_per_gpu_hour", "").replace("_", " ") + " (USD/GPU-h)", _fmt(v))
    console.print(t)


def _points(df, cols: list[str], labels: dict[str, str], title: str, as_json: bool, csv: str | None,
            json_extra: list[str] = ()) -> None:
    """Operating points: all columns to ``csv``, the shown ones (and ``json_extra``) as JSON or the shown ones
    as a table for people."""
    if csv:
        from inferonomics.io import write_text_atomic

        write_text_atomic(csv, df.to_csv(index=False))
    if as_json:
        print_json({"points": df[[*cols, *json_extra]].to_dict(orient="records"), "csv": csv})
        return
    frame_table(df, title, cols, labels)
    if csv:
        console.print(f"wrote {csv}")


def frontier(df, as_json: bool, csv: str | None) -> None:
    cols = ["concurrency", "output_tokens_per_s_per_user", "output_tokens_per_s_per_gpu", "output_tokens_per_s",
            "ttft_s", "tpot_s", "memory_per_gpu_gib"]
    labels = {"concurrency": "requests\nin flight", "output_tokens_per_s_per_user": "output tok/s\nper user",
              "output_tokens_per_s_per_gpu": "output tok/s\nper GPU", "output_tokens_per_s": "output tok/s\nall GPUs",
              "ttft_s": "time to\nfirst token", "tpot_s": "time per\ntoken", "memory_per_gpu_gib": "memory per\nGPU (GiB)"}
    _points(df, cols, labels, "Frontier: " + _title(df.iloc[0].to_dict()), as_json, csv,
            json_extra=["memory_per_gpu_gb"])  # the deprecated name of memory_per_gpu_gib, in JSON only


def pd_table(df, as_json: bool, csv: str | None) -> None:
    """The best operating point of every prefill:decode mix, best first."""
    cols = ["prefill_gpus", "decode_gpus", "concurrency", "output_tokens_per_s_per_gpu",
            "decode_output_tokens_per_s_per_gpu", "prefill_utilization", "ttft_s", "tpot_s"]
    labels = {"prefill_gpus": "prefill\nGPUs", "decode_gpus": "decode\nGPUs", "concurrency": "requests\nin flight",
              "output_tokens_per_s_per_gpu": "output tok/s\nper GPU",
              "decode_output_tokens_per_s_per_gpu": "output tok/s\nper decode GPU",
              "prefill_utilization": "prefill\npool use", "ttft_s": "time to\nfirst token", "tpot_s": "time per\ntoken"}
    _points(df, cols, labels, "Prefill:decode mixes, best output tokens/s per GPU first", as_json, csv)


CATALOG_LABELS = {
    "slug": "slug", "kind": "kind", "family": "family", "bf16_tflops": "BF16 TFLOPS", "fp8_tflops": "FP8 TFLOPS",
    "memory_gib": "memory GiB", "memory_bw_gb_s": "memory GB/s", "tdp_w": "TDP W", "purchase_price_usd": "price $",
    "rental_usd_per_gpu_hour": "rent $/GPU-h", "layers": "layers", "hidden": "hidden", "heads": "heads",
    "kv_heads": "KV heads", "attention": "attention", "experts": "experts", "total_params_b": "params bn",
    "active_params_b": "active bn", "max_context": "max context", "currency": "currency",
    "electricity_usd_per_kwh": "electricity $/kWh", "pue": "PUE",
}


def catalog_list(kind: str, as_json: bool) -> None:
    from inferonomics.catalog import KINDS, get_catalog
    from inferonomics.errors import UnknownNameError

    cat = get_catalog()
    if kind not in KINDS:
        raise UnknownNameError("kind", kind, KINDS)
    recs = getattr(cat, kind)
    rows = []
    for slug, r in sorted(recs.items()):
        if kind == "accelerators":
            rows.append({
                "slug": slug, "name": r.name, "kind": r.kind, "family": r.family,
                "bf16_tflops": r.peak_tflops("bf16"), "fp8_tflops": r.peak_tflops("fp8"),
                "memory_gib": r.memory_gib.value, "memory_bw_gb_s": r.memory_bw_gb_s.value, "tdp_w": r.tdp_w.value,
                "purchase_price_usd": r.purchase_price_usd.value,
                "rental_usd_per_gpu_hour": r.rental_usd_per_gpu_hour.value if r.rental_usd_per_gpu_hour else None,
                "memory_gb": r.memory_gib.value,  # deprecated name of memory_gib (JSON only)
            })
        elif kind == "models":
            from inferonomics.perf.arch import active_params, total_params

            rows.append({
                "slug": slug, "name": r.name, "layers": r.num_layers, "hidden": r.hidden_size,
                "heads": r.num_attention_heads, "kv_heads": r.num_kv_heads,
                "attention": "MLA" if r.mla else ("MHA" if r.num_kv_heads == r.num_attention_heads else "GQA"),
                "experts": f"{r.moe.experts_per_token}/{r.moe.num_experts}" if r.moe else "-",
                "total_params_b": total_params(r) / 1e9, "active_params_b": active_params(r) / 1e9,
                "max_context": r.max_context,
            })
        else:
            rows.append({
                "slug": slug, "name": r.name, "currency": r.currency,
                "electricity_usd_per_kwh": r.electricity_usd_per_kwh.value, "pue": r.pue.value,
            })
    if as_json:
        print_json(rows)
        return
    import pandas as pd

    # the full name is in --json and `catalog show`; the table keeps the slug whole
    frame_table(pd.DataFrame(rows).drop(columns=["name", "memory_gb"], errors="ignore"), f"{kind} ({len(rows)})",
                labels=CATALOG_LABELS)


def catalog_show(slug: str, as_json: bool) -> None:
    from inferonomics.catalog import get_catalog
    from inferonomics.present import unit_label

    cat = get_catalog()
    kind, rec = cat.find(slug)
    d = rec.model_dump(exclude_none=True)
    if "kind" in d:  # an accelerator's kind (datacenter, rack-scale...); "kind" below names the catalog section
        d["accelerator_kind"] = d.pop("kind")
    if kind == "models":
        from inferonomics.perf.arch import active_params, total_params

        d["computed_total_params_b"] = total_params(rec) / 1e9
        d["computed_active_params_b"] = active_params(rec) / 1e9
    d["_origin"] = cat.origin.get(f"{kind}:{slug}")
    if as_json:
        print_json({"kind": kind, **d})
        return
    t = Table(title=f"{kind[:-1]} {slug}", show_lines=False)
    t.add_column("field")
    t.add_column("value", justify="right")
    t.add_column("source / assumption")

    def add(prefix, v):
        if isinstance(v, dict) and "value" in v:
            prov = v.get("assumption") and f"assumption: {v['assumption']}" or f"{v.get('source')} ({v.get('date')})"
            if v.get("low") is not None:
                prov += f" [range {v['low']}-{v['high']}]"
            unit = unit_label(v.get("unit"))  # the vocabulary's unit as people read it: gb_s -> GB/s
            t.add_row(prefix, _fmt(float(v["value"])) + (f" {unit}" if unit else ""), prov)
        elif isinstance(v, dict):
            for k, x in v.items():
                add(f"{prefix}.{k}" if prefix else k, x)
        else:
            t.add_row(prefix, _fmt(v) if not isinstance(v, str) else v, "")

    add("", d)
    console.print(t)


def demo_table(region: str):
    """Cost per million tokens of the flagship deployments (:func:`inferonomics.cost.answers.flagship_costs`)."""
    from inferonomics.cost.answers import flagship_costs

    return flagship_costs(region)


def demo(region: str, as_json: bool) -> None:
    from inferonomics.cost.answers import FLAGSHIP_ISL as DEMO_ISL
    from inferonomics.cost.answers import FLAGSHIP_OSL as DEMO_OSL
    from inferonomics.cost.answers import INTERACTIVE_MAX_TPOT_S as DEMO_MAX_TPOT_S
    from inferonomics.present import seconds, value

    df = demo_table(region)
    if as_json:
        print_json({"region": region, "isl": DEMO_ISL, "osl": DEMO_OSL, "max_tpot_s": DEMO_MAX_TPOT_S,
                    "rows": df.to_dict(orient="records")})
        return
    t = Table(
        title=f"What a million tokens costs to make: ISL {DEMO_ISL} / OSL {DEMO_OSL}, the most requests in "
        f"flight with TPOT <= {seconds(DEMO_MAX_TPOT_S)}, region {region}",
        padding=(0, 1),
        show_lines=True,
    )
    cols = [
        ("output_tokens_per_s_per_gpu", "tok/s\nper GPU"), ("rent_usd_per_mtok_output", "rent\n$/M out"),
        ("own_usd_per_gpu_hour", "own\n$/GPU-h"), ("own_usd_per_mtok_output", "own\n$/M out"),
        ("own_usd_per_mtok_input", "own\n$/M in"),
    ]
    t.add_column("model\ndeployment", no_wrap=True)
    for _, label in cols:
        t.add_column(label, justify="right", no_wrap=True)
    for _, row in df.iterrows():
        deploy = f"{row['gpus']}x {row['gpu']} {row['weights']}" + (f" ep{row['ep']}" if row["ep"] > 1 else "")
        t.add_row(f"{row['model']}\n[dim]{deploy}[/]",
                  *(value(c, row.get(c)) for c, _ in cols))
    console.print(t)
    for _, row in df.iterrows():
        if row.get("note"):
            console.print(f"[yellow]{row['model']} on {row['gpu']}:[/] {row['note']}")
    console.print(
        "Rent: the accelerator's catalog rental price. Own: capex annuity + power x PUE + facility + "
        "operations (inferonomics cost --own shows each line). Utilization: catalog default."
    )


def frame_table(df, title: str, columns: list[str] | None = None, labels: dict[str, str] | None = None) -> None:
    """A DataFrame as a Rich table for people: cells and headings from the presentation layer, text columns
    left-aligned and never cut (they wrap), numbers right-aligned."""
    from rich import box

    from inferonomics.present import frame

    shown = frame(df, columns, labels)
    specs = []
    for c in shown.columns:
        numeric = shown[c].astype(str).str.match(r"^-?[$\d]").sum() >= len(shown) / 2
        widest = int(shown[c].astype(str).str.len().max()) if len(shown) else 1
        word = max(len(w) for w in str(c).split())  # a heading wraps between words, never inside one
        # numbers are never cut (a width of their widest cell); headings and text wrap instead
        specs.append((c, numeric, max(word, widest if numeric or c == shown.columns[0] else min(widest, 12))))
    # a column that does not fit the terminal is left out and named, never cut off at the edge
    dropped = []
    while len(specs) > 2 and sum(w + 2 for _, _, w in specs) > console.width:
        dropped.insert(0, specs.pop()[0])
    t = Table(title=title, header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True,
              pad_edge=False)
    for c, numeric, width in specs:
        t.add_column(c, justify="right" if numeric else "left", overflow="fold", min_width=width)
    shown = shown[[c for c, _, _ in specs]]
    for row in shown.itertuples(index=False):
        t.add_row(*(str(v) for v in row))
    console.print(t)
    if dropped:
        names = ", ".join(" ".join(str(d).split()) for d in dropped)
        console.print(f"[dim]Left out at this terminal width: {names} (a wider terminal or --json shows them).[/]")
