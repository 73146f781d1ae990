"""Charts of the report, drawn with matplotlib (Agg) into PNG bytes.  Pure: data in, bytes out."""

from __future__ import annotations

import io

PALETTE = ["#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#843c0c", "#375623"]
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
    for y, total in enumerate(left):
        ax.text(total, y, f" ${total:.2f}", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("USD per million output tokens (owned hardware, all costs on output)")
    ax.legend(loc="lower right", fontsize=7, frameon=False)
    ax.set_title("What a million output tokens costs to make, by line item")
    return _png(fig)


def cost_matrix(models: list[str], gpus: list[str], values) -> bytes:
    """Heat map of $ per million output tokens, model x accelerator (blank where it does not fit)."""
    import numpy as np

    plt = _plt()
    v = np.asarray(values, float)
    fig, ax = plt.subplots(figsize=(1.0 * len(gpus) + 2.5, 0.42 * len(models) + 1.4))
    im = ax.imshow(np.log10(v), cmap="viridis_r", aspect="auto")
    ax.set_xticks(range(len(gpus)), gpus, rotation=35, ha="right")
    ax.set_yticks(range(len(models)), models)
    for i in range(len(models)):
        for j in range(len(gpus)):
            if np.isfinite(v[i, j]):
                ax.text(j, i, f"{v[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if np.log10(v[i, j]) > np.nanmedian(np.log10(v)) else "black")
    cb = fig.colorbar(im, ax=ax, fraction=0.03)
    cb.set_label("log10 USD per M output tokens")
    ax.set_title("Owned-hardware cost per million output tokens (best parallelism within 8 GPUs)")
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
    ax.set_title("Throughput-interactivity frontier")
    return _png(fig)


def fan(years, p10, p50, p90, *, title: str, ylabel: str, target: float | None = None, scale: float = 1.0) -> bytes:
    """Fan chart: P10-P90 band and the median, with an optional target line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    ax.fill_between(years, [x / scale for x in p10], [x / scale for x in p90], color=PALETTE[0], alpha=0.25,
                    label="P10-P90")
    ax.plot(years, [x / scale for x in p50], color=PALETTE[0], marker="o", ms=3, label="P50")
    if target is not None:
        ax.axhline(target / scale, color=PALETTE[1], ls="--", lw=1, label="target")
    ax.set_xticks(list(years), [f"FY{y}" for y in years])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def tornado(rows: list[dict], *, title: str, xlabel: str, scale: float = 1.0) -> bytes:
    """Tornado: the output with each input at its P10 (orange end) and at its P90 (blue end)."""
    plt = _plt()
    rows = sorted(rows, key=lambda r: abs(r["high"] - r["low"]))
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(rows) + 1.2))
    for y, r in enumerate(rows):
        lo, hi = r["low"] / scale, r["high"] / scale
        ax.barh(y, abs(hi - lo), left=min(lo, hi), color="#dddddd")
        ax.plot([lo], [y], "o", color=PALETTE[1], ms=5)
        ax.plot([hi], [y], "o", color=PALETTE[0], ms=5)
    ax.set_yticks(range(len(rows)), [r["input"] for r in rows], fontsize=7)
    ax.set_xlabel(xlabel + "  (orange: input at P10, blue: at P90)")
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
            ax.plot(sr["x"], sr["y"], color=color, label=sr["label"])
    if marker_x is not None:
        ax.axvline(marker_x, color="black", ls=":", lw=1)
        if marker_label:
            ax.text(marker_x, ax.get_ylim()[1], f" {marker_label}", va="top", fontsize=7)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.autofmt_xdate() if step else None
    return _png(fig)
