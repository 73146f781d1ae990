"""Charts of the report, drawn with matplotlib (Agg) into PNG bytes.  Pure: data in, bytes out."""

from __future__ import annotations

import io

# eight hues a reader tells apart (no two blues), colour-blind safe (Okabe-Ito)
PALETTE = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#000000", "#f0e442"]
LINE_ITEMS = [
    ("capital_accelerator", "accelerator capital"),
    ("capital_server_network", "server + network capital"),
    ("power", "power x PUE"),
    ("facility", "facility"),
    ("operations", "operations"),
]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def cost_waterfall(rows: list[dict]) -> bytes:
    """Stacked bars: $ per million output tokens (all-in) split into TCO line items, one bar per deployment."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * len(rows) + 1.2))
    labels = [r["label"] for r in rows]
    left = [0.0] * len(rows)
    for (key, name), color in zip(LINE_ITEMS, PALETTE, strict=False):
        vals = [r["breakdown"].get(key, 0.0) for r in rows]
        ax.barh(labels, vals, left=left, color=color, label=name)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    from inferonomics.present import money

    for y, total in enumerate(left):
        ax.text(total, y, f" {money(total)}", va="center", fontsize=8)
    ax.set_xlim(0, max(left, default=1.0) * 1.18)
    ax.invert_yaxis()
    ax.set_xlabel("USD per million output tokens (owned hardware, all costs on output)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=5, fontsize=7, frameon=False)
    ax.set_title("What does a million output tokens cost to make, line by line? ($ per M output tokens)")
    return _png(fig)


def cost_matrix(models: list[str], gpus: list[str], values) -> bytes:
    """Heat map of $ per million output tokens, model x accelerator (blank where it does not fit)."""
    import numpy as np

    plt = _plt()
    v = np.asarray(values, float)
    fig, ax = plt.subplots(figsize=(1.0 * len(gpus) + 2.5, 0.42 * len(models) + 1.4))
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter

    from inferonomics.present import money

    ok = np.isfinite(v)
    norm = LogNorm(vmin=np.nanmin(v), vmax=np.nanmax(v)) if ok.any() else None
    ax.set_facecolor("#f0f0f0")
    im = ax.imshow(np.ma.masked_invalid(v), cmap="viridis_r", aspect="auto", norm=norm)
    ax.set_xticks(range(len(gpus)), gpus, rotation=35, ha="right")
    ax.set_yticks(range(len(models)), models)
    mid = np.nanmedian(np.log10(v)) if ok.any() else 0.0
    for i in range(len(models)):
        for j in range(len(gpus)):
            if ok[i, j]:
                ax.text(j, i, money(v[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if np.log10(v[i, j]) > mid else "black")
            else:
                ax.text(j, i, "does not fit", ha="center", va="center", fontsize=5, color="#777777")
    cb = fig.colorbar(im, ax=ax, fraction=0.03, format=FuncFormatter(lambda x, _: money(x)))
    cb.set_label("$ per M output tokens (log scale)")
    ax.set_title("Which model x accelerator pair is cheapest? $ per M output tokens, all cost on output\n"
                 "(owned hardware, best parallelism within 8 GPUs; grey: does not fit or misses the latency target)")
    return _png(fig)


def frontier(curves: list[dict]) -> bytes:
    """Throughput per GPU against tokens/s per user, one curve per deployment."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for c, color in zip(curves, PALETTE, strict=False):
        ax.plot(c["per_user"], c["per_gpu"], marker="o", ms=3, color=color, label=c["label"])
    ax.set_xlabel("output tokens/s per user (interactivity)")
    ax.set_ylabel("output tokens/s per GPU (throughput)")
    ax.set_yscale("log")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("What does interactivity cost? Output tokens/s per GPU against tokens/s per user")
    return _png(fig)


def fan(years, p10, p50, p90, *, title: str, ylabel: str, target: float | None = None, scale: float = 1.0,
        target_label: str = "target") -> bytes:
    """Fan chart: P10-P90 band and the median, with an optional target line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    ax.fill_between(years, [x / scale for x in p10], [x / scale for x in p90], color=PALETTE[0], alpha=0.25,
                    label="P10-P90")
    ax.plot(years, [x / scale for x in p50], color=PALETTE[0], marker="o", ms=3, label="median")
    if target is not None:
        ax.axhline(target / scale, color=PALETTE[1], ls="--", lw=1, label=target_label)
    ax.set_xticks(list(years), [f"FY{y}" for y in years])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def tornado(rows: list[dict], *, title: str, xlabel: str, scale: float = 1.0, base: float | None = None) -> bytes:
    """Tornado: the output with each input at its P10 (orange end) and at its P90 (blue end)."""
    plt = _plt()
    rows = sorted(rows, key=lambda r: abs(r["high"] - r["low"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.2))
    for y, r in enumerate(rows):
        lo, hi = r["low"] / scale, r["high"] / scale
        ax.barh(y, abs(hi - lo), left=min(lo, hi), color="#dddddd")
        ax.plot([lo], [y], "o", color=PALETTE[1], ms=5)
        ax.plot([hi], [y], "o", color=PALETTE[0], ms=5)
    if base is not None:
        ax.axvline(base / scale, color="black", lw=1)
    ends = [r[k] / scale for r in rows for k in ("low", "high")] + ([base / scale] if base is not None else [])
    if ends:
        pad = (max(ends) - min(ends)) * 0.06 or 1.0
        ax.set_xlim(min(ends) - pad, max(ends) + pad)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_yticks(range(len(rows)), [r["input"].replace("_", " ") for r in rows], fontsize=7)
    ax.set_xlabel(xlabel + "  (orange: input at P10, blue: at P90, black line: all inputs at their median)")
    ax.set_title(title)
    return _png(fig)


def lines(series: list[dict], *, title: str, xlabel: str, ylabel: str, marker_x=None, marker_label=None,
          logy: bool = False, step: bool = False) -> bytes:
    """Generic line chart (cumulative costs, price histories)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for sr, color in zip(series, PALETTE * 3, strict=False):
        if step:
            ax.step(sr["x"], sr["y"], where="post", color=color, label=sr["label"], marker="o", ms=3)
        else:
            ax.plot(sr["x"], sr["y"], color=color, label=sr["label"], ls="--" if sr.get("excluded") else "-")
    if marker_x is not None:
        ax.axvline(marker_x, color="black", ls=":", lw=1)
        if marker_label:
            ax.text(marker_x, ax.get_ylim()[1], f" {marker_label}", va="top", fontsize=7)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.22 if step else -0.15))
    fig.autofmt_xdate() if step else None
    return _png(fig)


SCALE_PARTS = [
    ("floor_usd_per_mtok", "floor: every GPU busy at its SLO operating point"),
    ("caching_usd_per_mtok", "caching: a colder prefix cache"),
    ("batching_usd_per_mtok", "batching: capacity flat demand cannot fill"),
    ("multiplexing_usd_per_mtok", "multiplexing: peaks, bursts, noise"),
]


def scale_tiers(panels: list[dict], *, title: str) -> bytes:
    """Per tier, delivered $/Mtok against daily volume (log-log, top) and what it is made of (share of the
    delivered $/Mtok, bottom).  ``panels``: dicts with ``label``, ``rows`` (scale-table rows), ``flat_at``
    (volume where it stops falling, or None) with ``flat_label``, and ``marks`` ([(daily tokens, label)])."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter

    from inferonomics.present import money, tokens

    plt = _plt()
    n = max(len(panels), 1)
    fig, axes = plt.subplots(2, n, figsize=(3.4 * n + 0.6, 6.2), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [3, 2]})
    vol_fmt = FuncFormatter(lambda x, _: tokens(x))
    for k, p in enumerate(panels):
        top, bot = axes[0][k], axes[1][k]
        v = np.array([r["daily_tokens"] for r in p["rows"]])
        cost = np.array([r["usd_per_mtok"] for r in p["rows"]])
        top.plot(v, cost, color="black", marker="o", ms=3, label="delivered $/Mtok")
        top.plot(v, [r["floor_usd_per_mtok"] for r in p["rows"]], color=PALETTE[0], ls="--", lw=1,
                 label="floor (full batches)")
        if p.get("flat_at"):
            top.axvline(p["flat_at"], color=PALETTE[4], ls=":", lw=1.2,
                        label=p.get("flat_label", "stops falling"))
        for (x, text), color in zip(p.get("marks", []), (PALETTE[2], PALETTE[3]), strict=False):
            top.axvline(x, color=color, lw=1, alpha=0.8)
            top.text(x, cost.max(), f" {text}", rotation=90, va="top", ha="right", fontsize=6, color=color)
        top.set_xscale("log")
        top.set_yscale("log")
        top.yaxis.set_major_formatter(FuncFormatter(lambda y, _: money(y, 1)))
        # minor ticks: label 2x and 5x a power of ten (a narrow range may hold no major tick)
        top.yaxis.set_minor_formatter(FuncFormatter(
            lambda y, _: money(y, 1) if y > 0 and round(y / 10 ** np.floor(np.log10(y))) in (2, 5) else ""))
        top.tick_params(axis="y", which="minor", labelsize=7)
        top.set_title(p["label"], fontsize=8)
        parts = np.array([[max(r[key], 0.0) for r in p["rows"]] for key, _ in SCALE_PARTS])
        shares = parts / parts.sum(axis=0, keepdims=True) * 100.0
        bot.stackplot(v, shares, colors=PALETTE[:len(SCALE_PARTS)], alpha=0.85,
                      labels=[name for _, name in SCALE_PARTS])
        bot.set_ylim(0, 100)
        bot.set_xscale("log")
        bot.xaxis.set_major_formatter(vol_fmt)
        bot.tick_params(axis="x", labelrotation=35, labelsize=7)
        bot.set_xlabel("tokens a day (log scale)")
        if k == 0:
            top.set_ylabel("$ per M tokens (log scale)")
            bot.set_ylabel("% of delivered $/Mtok")
    h1, l1 = axes[0][0].get_legend_handles_labels()
    h2, l2 = axes[1][0].get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=3, fontsize=7, frameon=False, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _png(fig)
