"""The scale-curve chart: delivered $/Mtok against daily volume, stacked by what it is made of."""

from __future__ import annotations


def scale_chart(rows: list[dict], path: str, title: str = "") -> str:
    """Write a PNG: floor, caching, batching and multiplexing parts of $/Mtok per daily volume (log x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    v = np.array([r["daily_tokens"] for r in rows])
    parts = [("floor (full batches, warm cache)", "floor_usd_per_mtok", "#4c72b0"),
             ("caching", "caching_usd_per_mtok", "#55a868"),
             ("batching", "batching_usd_per_mtok", "#c44e52"),
             ("multiplexing", "multiplexing_usd_per_mtok", "#8172b2")]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    base = np.zeros(len(rows))
    for label, key, color in parts:
        y = np.array([max(r[key], 0.0) for r in rows])
        ax.fill_between(v, base, base + y, label=label, color=color, alpha=0.8, step=None)
        base = base + y
    ax.plot(v, [r["usd_per_mtok"] for r in rows], "k.-", label="delivered $/Mtok")
    ax.set_xscale("log")
    ax.set_xlabel("tokens a day")
    ax.set_ylabel("$ per million tokens")
    ax.set_title(title or "Scale curve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
