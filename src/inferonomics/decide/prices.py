"""API prices: the catalog's price records as tables, histories, the latest price of each product, and an
importer for the price map bundled in the ``litellm`` package (read as a JSON file, never imported).

A *product* is one provider + model + market (``alibaba / qwen-plus / china``); its *history* is its
records in date order.  Prices are per million tokens in the record's currency and, in the ``*_usd_*``
columns, in USD at the catalog's dated FX rate (``cat.usd_per``).
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import math
from pathlib import Path

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.catalog.schema import API_MARKETS, ApiPrice
from inferonomics.errors import InputError, UnknownNameError

LITELLM_PRICE_FILE = "model_prices_and_context_window_backup.json"
# litellm provider names -> the provider slugs of the built-in catalog (others: litellm's name, kebab-cased)
LITELLM_PROVIDERS = {"dashscope": "alibaba", "volcengine": "bytedance", "gemini": "google"}

PRICE_COLUMNS = [
    "provider", "model", "version", "market", "effective_date", "currency", "context_tier",
    "input_per_mtok", "output_per_mtok", "cache_hit_input_per_mtok",
    "input_usd_per_mtok", "output_usd_per_mtok", "cache_hit_input_usd_per_mtok",
    "quality_tier", "equivalent_open_models", "max_input_tokens", "source", "date", "note", "key",
]


def date_of(s: str) -> _dt.date:
    """'2026' -> 2026-01-01, '2026-05' -> 2026-05-01, '2026-05-13' -> itself."""
    parts = [int(p) for p in str(s).split("-")]
    return _dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def _row(r: ApiPrice, usd: float) -> dict:
    def conv(v):
        return None if v is None else v * usd

    return {
        "provider": r.provider, "model": r.model, "version": r.version, "market": r.market,
        "effective_date": r.effective_date, "currency": r.currency, "context_tier": r.context_tier,
        "input_per_mtok": r.input_per_mtok, "output_per_mtok": r.output_per_mtok,
        "cache_hit_input_per_mtok": r.cache_hit_input_per_mtok,
        "input_usd_per_mtok": conv(r.input_per_mtok), "output_usd_per_mtok": conv(r.output_per_mtok),
        "cache_hit_input_usd_per_mtok": conv(r.cache_hit_input_per_mtok),
        "quality_tier": r.quality_tier, "equivalent_open_models": list(r.equivalent_open_models),
        "max_input_tokens": r.max_input_tokens, "source": r.source, "date": r.date, "note": r.note,
        "key": r.key,
    }


def _sort_key(r: ApiPrice):
    return (r.provider, r.model, r.market, date_of(r.effective_date), r.context_range_tokens[0])


def price_records(
    catalog: Catalog | None = None,
    *,
    provider: str | None = None,
    market: str | None = None,
    model: str | None = None,
):
    """Every price record (optionally one provider / market / model) as a tidy DataFrame, in history order."""
    import pandas as pd

    cat = catalog or get_catalog()
    recs = list(cat.api_prices.values())
    if provider is not None:
        known = {r.provider for r in recs}
        if provider not in known:
            raise UnknownNameError("provider", provider, known)
        recs = [r for r in recs if r.provider == provider]
    if market is not None:
        if market not in API_MARKETS:
            raise InputError("market", market, f"allowed markets are {', '.join(API_MARKETS)}")
        recs = [r for r in recs if r.market == market]
    if model is not None:
        recs = [r for r in recs if r.model == model]
    recs.sort(key=_sort_key)
    return pd.DataFrame([_row(r, cat.usd_per(r.currency)) for r in recs], columns=PRICE_COLUMNS)


def latest_prices(
    catalog: Catalog | None = None,
    *,
    as_of: str | None = None,
    provider: str | None = None,
    market: str | None = None,
):
    """The price in force of each product (all its context tiers) on ``as_of`` (default: the latest)."""
    df = price_records(catalog, provider=provider, market=market)
    if df.empty:
        return df
    if as_of is not None:
        cut = date_of(as_of)
        df = df[[date_of(d) <= cut for d in df["effective_date"]]]
    if df.empty:
        return df
    d = df["effective_date"].map(date_of)
    last = d.groupby([df["provider"], df["model"], df["market"]]).transform("max")
    return df[d == last].reset_index(drop=True)


def latest_records(catalog: Catalog | None = None, *, as_of: str | None = None) -> dict[tuple, list[ApiPrice]]:
    """(provider, model, market) -> the records (one per context tier) in force on ``as_of`` (default: latest)."""
    cat = catalog or get_catalog()
    cut = date_of(as_of) if as_of is not None else None
    by: dict[tuple, list[ApiPrice]] = {}
    for r in cat.api_prices.values():
        if cut is None or date_of(r.effective_date) <= cut:
            by.setdefault((r.provider, r.model, r.market), []).append(r)
    out = {}
    for k, recs in sorted(by.items()):
        last = max(date_of(r.effective_date) for r in recs)
        out[k] = sorted((r for r in recs if date_of(r.effective_date) == last), key=lambda r: r.context_range_tokens[0])
    return out


def price_history(model: str, catalog: Catalog | None = None, *, provider: str | None = None, market: str | None = None):
    """All the records of one API model (every provider and market unless given), in date order."""
    cat = catalog or get_catalog()
    known = {r.model for r in cat.api_prices.values()}
    if model not in known:
        raise UnknownNameError("model", model, known)
    df = price_records(cat, provider=provider, market=market, model=model)
    if df.empty:
        raise InputError("model", model, f"has no price records for provider={provider!r}, market={market!r}")
    return df


def plot_history(df, path: str) -> str:
    """Step chart of a price history (USD per Mtok, input and output, one line per product and tier)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    if p.exists() and p.is_dir():
        raise InputError("plot file", path, "is a directory; give a file path ending in .png")
    if not (p.parent if str(p.parent) else Path(".")).exists():
        raise InputError("plot file", path, f"its directory {str(p.parent)!r} does not exist")
    today = _dt.date.today()
    fig, ax = plt.subplots(figsize=(9, 5))
    groups = df.groupby(["provider", "market", "context_tier"], dropna=False, sort=True)
    for (prov, mkt, tier), g in groups:
        dates = [date_of(x) for x in g["effective_date"]]
        end = max(max(dates), today)
        label = f"{prov} {mkt}" + (f" {tier}" if isinstance(tier, str) else "")
        for col, style in (("input_usd_per_mtok", "-"), ("output_usd_per_mtok", "--")):
            ys = [float("nan") if v is None else float(v) for v in g[col]]
            if all(math.isnan(y) for y in ys):
                continue
            ax.step(dates + [end], ys + [ys[-1]], where="post", linestyle=style, marker="o", markersize=3,
                    label=f"{label} {'input' if col.startswith('input') else 'output'}")
    ax.set_yscale("log")
    ax.set_ylabel("USD per million tokens (log scale)")
    ax.set_title(f"API price history: {', '.join(sorted(set(df['model'])))}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    tmp = p.with_name(f".{p.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(p)
    return str(p)


# --------------------------------------------------------------------------------------------- litellm
def find_litellm_price_file() -> tuple[Path, str]:
    """Path of the price map bundled in the installed ``litellm`` package, and its version.

    Locates the package with ``importlib.util.find_spec`` (which does not import it: litellm's import
    fetches prices over the network)."""
    from importlib import metadata

    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "litellm", "not installed",
            "this command reads the price map bundled in the litellm package",
            "Install it with `pip install litellm` (or `pip install 'inferonomics[litellm]'`), or give a "
            "file of the same schema with --from-json FILE.",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / LITELLM_PRICE_FILE
    if not path.is_file():
        raise InputError("litellm", str(path), "has no bundled price map; this litellm version is not supported")
    try:
        version = metadata.version("litellm")
    except metadata.PackageNotFoundError:  # pragma: no cover
        version = "unknown"
    return path, version


def _tokens_label(n: float) -> str:
    n = float(n)
    if n == 0:
        return "0"
    if n >= 1e6 and n % 1e6 == 0:
        return f"{int(n // 1e6)}m"
    if n % 1000 == 0:
        return f"{int(n // 1000)}k"
    return f"{n / 1000:g}k"


def _per_mtok(v) -> float | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        return None
    return float(f"{v * 1e6:.10g}")


def litellm_records(
    data: dict,
    *,
    version: str,
    effective_date: str,
    providers: list[str] | None = None,
    catalog: Catalog | None = None,
) -> tuple[list[dict], dict]:
    """Catalog ``api_prices`` records from a litellm price map (chat models with token prices).

    Quality tier and equivalent open models are inherited from a built-in record of the same provider and
    model where there is one.  Returns (records, counts of what was skipped and why)."""
    import re

    from pydantic import ValidationError

    from inferonomics.catalog.schema import _API_MODEL_RE, SLUG_RE

    cat = catalog or get_catalog()
    known = {}
    for r in cat.api_prices.values():
        known.setdefault((r.provider, r.model), r)
    today = _dt.date.today().isoformat()
    out: dict[str, dict] = {}
    skipped = {"not_chat": 0, "no_price": 0, "alias": 0, "bad_name": 0, "other_provider": 0, "bad_tier": 0,
               "invalid": 0}
    wanted = set(providers) if providers else None
    for key, e in data.items():
        if key == "sample_spec" or not isinstance(e, dict):
            continue
        if "alias_of" in e:
            skipped["alias"] += 1
            continue
        lp = e.get("litellm_provider")
        if e.get("mode") != "chat" or not isinstance(lp, str):
            skipped["not_chat"] += 1
            continue
        if wanted is not None and lp not in wanted:
            skipped["other_provider"] += 1
            continue
        provider = LITELLM_PROVIDERS.get(lp, re.sub(r"[^a-z0-9.\-]+", "-", lp.lower()).strip("-"))
        model = key[len(lp) + 1:] if key.startswith(lp + "/") else key
        if not SLUG_RE.match(provider) or not _API_MODEL_RE.match(model):
            skipped["bad_name"] += 1
            continue
        tiers = []
        if isinstance(e.get("tiered_pricing"), list) and e["tiered_pricing"]:
            for t in e["tiered_pricing"]:
                rng = t.get("range") if isinstance(t, dict) else None
                if not (isinstance(rng, list) and len(rng) == 2
                        and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in rng)
                        and all(math.isfinite(x) and 0 <= x <= 1e9 for x in rng) and rng[0] < rng[1]):
                    skipped["bad_tier"] += 1  # a range of input tokens must be 0 <= from < to <= 1e9
                    continue
                tiers.append((f"{_tokens_label(rng[0])}-{_tokens_label(rng[1])}", t))
        else:
            tiers.append((None, e))
        base = known.get((provider, model))
        cite = f" (litellm cites {e['source']})" if isinstance(e.get("source"), str) else ""
        n_before = len(out)
        for tier, t in tiers:
            p_in = _per_mtok(t.get("input_cost_per_token"))
            p_out = _per_mtok(t.get("output_cost_per_token"))
            if p_in is None or p_out is None:
                continue
            rec = {
                "provider": provider, "model": model, "effective_date": effective_date,
                "market": "international", "currency": "USD",
                "input_per_mtok": p_in, "output_per_mtok": p_out,
            }
            cache = _per_mtok(t.get("cache_read_input_token_cost", e.get("cache_read_input_token_cost") if tier is None else None))
            if cache is not None:
                rec["cache_hit_input_per_mtok"] = cache
            if tier:
                rec["context_tier"] = tier
            mit = e.get("max_input_tokens")
            if isinstance(mit, int) and not isinstance(mit, bool) and mit > 0:
                rec["max_input_tokens"] = mit
            if base is not None and base.quality_tier:
                rec["quality_tier"] = base.quality_tier
            if base is not None and base.equivalent_open_models:
                rec["equivalent_open_models"] = list(base.equivalent_open_models)
            rec["source"] = f"litellm {version}, litellm/{LITELLM_PRICE_FILE}, key {key}{cite}"
            rec["date"] = today
            rec["note"] = (
                "Imported by `inferonomics prices import-litellm`; litellm does not date its prices, so the "
                "effective date is the import date."
                + (" Quality tier inherited from the built-in record of the same model." if base is not None else "")
            )
            try:
                k = ApiPrice(**rec).key  # validates
            except ValidationError:
                skipped["invalid"] += 1
                continue
            out.setdefault(k, rec)
        if len(out) == n_before:
            skipped["no_price"] += 1
    return list(out.values()), skipped


def import_litellm(
    out: str | None = None,
    *,
    from_json: str | None = None,
    providers: list[str] | None = None,
    effective_date: str | None = None,
    catalog: Catalog | None = None,
) -> dict:
    """Write the litellm price map's chat prices as a user catalog file (``api_prices`` section)."""
    import os

    import yaml

    from inferonomics.io import write_text_atomic

    if from_json is not None:
        path, version = Path(from_json), "(file given)"
    else:
        path, version = find_litellm_price_file()
    from inferonomics.io import load_json

    data = load_json(path, f"litellm price map {path}")
    if not isinstance(data, dict):
        raise InputError("litellm price map", str(path), "must be a JSON object of model name -> prices")
    eff = effective_date or _dt.date.today().isoformat()
    from inferonomics.catalog.schema import _check_date

    try:
        eff = _check_date(eff)
    except ValueError as exc:
        raise InputError("effective-date", effective_date, str(exc)) from None
    records, skipped = litellm_records(data, version=version, effective_date=eff, providers=providers, catalog=catalog)
    if out is None:
        d = os.environ.get("INFERONOMICS_CATALOG_DIR") or "."
        out = str(Path(d) / "litellm-prices.yaml")
    header = (
        f"# API prices imported from {path} (litellm {version}) on {_dt.date.today().isoformat()}.\n"
        "# Load with: inferonomics --catalog-dir DIR ...  (DIR = the folder of this file)\n"
    )
    text = header + yaml.safe_dump({"api_prices": records}, sort_keys=False, allow_unicode=True, width=120)
    write_text_atomic(out, text)
    providers_seen = sorted({r["provider"] for r in records})
    return {
        "out": out, "source_file": str(path), "litellm_version": version, "records": len(records),
        "providers": providers_seen, "skipped": skipped, "effective_date": eff,
    }


__all__ = [
    "date_of",
    "find_litellm_price_file",
    "import_litellm",
    "latest_prices",
    "litellm_records",
    "plot_history",
    "price_history",
    "price_records",
]
