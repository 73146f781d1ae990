"""Python API of the buyer's decision: ``breakeven(workload)`` -> :class:`Decision`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inferonomics.catalog import Catalog, get_catalog
from inferonomics.decide import engine as E
from inferonomics.decide.workload import Workload, load_workload

MONTHLY_COLUMNS = [
    "option", "kind", "month", "input_tokens", "output_tokens", "tokens", "peak_requests_per_s", "gpus",
    "servers", "api_usd", "rental_usd", "capex_usd", "depreciation_usd", "financing_usd", "power_usd",
    "facility_usd", "maintenance_usd", "staff_usd", "write_off_usd", "residual_credit_usd", "cash_usd", "cost_usd", "cumulative_cash_usd", "cumulative_cost_usd",
    "usd_per_mtok",
]


@dataclass(frozen=True)
class Decision:
    """The comparison of one workload's options.

    ``options``: one row per option shown (every suitable API, and the best rented and owned deployment
    per accelerator), sorted by NPV; ``usd_per_mtok`` is levelized, ``PV(cost) / PV(tokens)``.
    ``ledger``: the same options' monthly lines as a labelled ``xarray.Dataset`` (option x period).  ``monthly``: tidy, one row per option and month.  ``capacity``:
    every self-hosted candidate that meets the SLO.  ``recommendation``, ``breakeven``, ``flips`` and
    ``excluded`` are plain dicts/lists (what ``--json`` prints)."""

    workload: dict
    options: object
    monthly: object
    capacity: object
    recommendation: dict
    breakeven: dict
    flips: list = field(default_factory=list)
    counterfactual: dict | None = None
    excluded: list = field(default_factory=list)
    api_skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    ledger_builder: object = field(default=None, repr=False)  # builds ``ledger`` on first use (xarray is slow to load)

    @property
    def ledger(self):
        """The shown options' monthly lines as a labelled ``xarray.Dataset`` (option x period), built on first
        use: importing xarray costs more than the decision itself."""
        if self.ledger_builder is not None and not hasattr(self, "_ledger"):
            object.__setattr__(self, "_ledger", self.ledger_builder())
        return getattr(self, "_ledger", None)

    def to_dict(self, monthly: bool = True) -> dict:
        d = {
            "workload": self.workload,
            "recommendation": self.recommendation,
            "breakeven": self.breakeven,
            "flips": self.flips,
            "counterfactual": self.counterfactual,
            "options": _records(self.options),
            "excluded": self.excluded,
            "api_skipped": self.api_skipped,
            "notes": self.notes,
            "capacity": _records(self.capacity),
        }
        if monthly:
            d["monthly"] = _records(self.monthly)
        return d


def _records(df) -> list[dict]:
    import math

    out = []
    for rec in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in rec.items()})
    return out


def _shown(p: E.Prepared, ev: dict) -> list[int]:
    """Every API, and per accelerator the cheapest (NPV) rented and owned candidate."""
    A, C = len(p.apis), len(p.cap)
    idx = list(range(A))
    gpus = p.cap["gpu"].to_numpy()
    for off in (A, A + C):
        for g in sorted(set(gpus)):
            cands = [off + i for i in range(C) if gpus[i] == g]
            idx.append(min(cands, key=lambda j: ev["npv"][j]))
    return idx


def _line(ev: dict, kind: str, j: int, p: E.Prepared, key: str) -> np.ndarray:
    A, C = len(p.apis), len(p.cap)
    H = ev["H"]
    if kind == "api":
        return ev["api"]["api_usd"][j] if key == "api_usd" else np.zeros(H)
    if kind == "rent":
        src = ev["rent"]
        i = j - A
        m = {"rental_usd": "rental_usd", "staff_usd": "staff_usd", "gpus": "gpus"}
        return src[m[key]][i] if key in m else np.zeros(H)
    i = j - A - C
    src = ev["own"]
    if key == "residual_credit_usd":
        out = np.zeros(H)
        out[-1] = src["residual_usd"][i]
        return out
    keys = ("capex_usd", "depreciation_usd", "financing_usd", "power_usd", "facility_usd", "maintenance_usd",
            "staff_usd", "write_off_usd", "gpus", "servers")
    return src[key][i] if key in keys else np.zeros(H)


def _monthly(p: E.Prepared, ev: dict, idx: list[int], names: list[str]):
    import pandas as pd

    H = ev["H"]
    tokens = ev["in_tok"] + ev["out_tok"]
    frames = []
    for j in idx:
        kind = str(ev["kind"][j])
        cash, cost = ev["cash"][j], ev["cost"][j]
        d = {
            "option": [names[j]] * H, "kind": [kind] * H, "month": p.months,
            "input_tokens": ev["in_tok"], "output_tokens": ev["out_tok"], "tokens": tokens,
            "peak_requests_per_s": ev["peak_req_s"],
        }
        for key in ("gpus", "servers", "api_usd", "rental_usd", "capex_usd", "depreciation_usd", "financing_usd",
                    "power_usd", "facility_usd", "maintenance_usd", "staff_usd", "write_off_usd",
                    "residual_credit_usd"):
            d[key] = _line(ev, kind, j, p, key)
        d["cash_usd"], d["cost_usd"] = cash, cost
        d["cumulative_cash_usd"], d["cumulative_cost_usd"] = np.cumsum(cash), np.cumsum(cost)
        with np.errstate(divide="ignore", invalid="ignore"):
            d["usd_per_mtok"] = cost / tokens * 1e6
        frames.append(pd.DataFrame(d))
    return pd.concat(frames, ignore_index=True)[MONTHLY_COLUMNS]


def _fmt_usd(x: float) -> str:
    from inferonomics.present import money

    return money(x)


def _num(x: float) -> str:
    from inferonomics.present import number

    return number(x, 3)


def _tok(x: float) -> str:
    from inferonomics.present import tokens

    return tokens(x)


def with_default_slo(w: Workload) -> tuple[Workload, str | None]:
    """``w`` with the default interactive latency target (:data:`inferonomics.cost.answers.INTERACTIVE_MAX_TPOT_S`,
    50 ms per output token) when it states none, and the note that says so; otherwise ``w`` unchanged."""
    from inferonomics.cost.answers import INTERACTIVE_MAX_TPOT_S
    from inferonomics.decide.workload import val, with_overrides

    if val(w.slo.max_tpot_s) is not None or val(w.slo.max_ttft_s) is not None:
        return w, None
    note = (f"No latency target given: the default interactive target was used, time per output token at most "
            f"{INTERACTIVE_MAX_TPOT_S * 1000:.0f} ms (20 tokens/s per user); give --max-tpot-s or --max-ttft-s "
            "to change it.")
    return with_overrides(w, where="the default latency target", **{"slo.max_tpot_s": INTERACTIVE_MAX_TPOT_S}), note


def breakeven(
    workload: Workload | str,
    catalog: Catalog | None = None,
    *,
    with_flips: bool = True,
) -> Decision:
    """Compare paying an API, renting dedicated GPUs and owning hardware for a workload.

    ``workload``: a :class:`Workload`, a built-in name or a YAML path."""
    import pandas as pd

    cat = catalog or get_catalog()
    w = load_workload(workload) if isinstance(workload, str) else workload
    w, slo_note = with_default_slo(w)
    p = E.prepare(w, cat)
    ev = E.evaluate(p)
    names = E.option_names(p)
    kinds = ev["kind"]
    mask = E.eligible_mask(p)
    A, C = len(p.apis), len(p.cap)
    H = ev["H"]
    tokens = ev["in_tok"] + ev["out_tok"]

    best = int(np.argmin(np.where(mask, ev["npv"], np.inf)))
    api_idx = int(np.argmin(ev["npv"][:A])) if A else None
    best_of = {
        k: int(np.argmin(np.where(kinds == k, ev["npv"], np.inf))) for k in E.KINDS if (kinds == k).any()
    }

    # --- break-even of each self-hosted kind against the best API -------------------------------------
    # Each entry is about ONE option (the cheapest of its kind at this workload, the recommendation when it
    # is of that kind): its break-even month, break-even volume and at-scale cost are all that option's.
    lev = ev["usd_per_mtok"]
    be: dict = {"against": names[api_idx] if api_idx is not None else None}
    at_scale = E.evaluate(p, E.Levers(), steady_tokens_per_month=1e15) if api_idx is not None else None
    if api_idx is not None:
        api_cum = np.cumsum(ev["cash"][api_idx])
        be["api_usd_per_mtok"] = float(lev[api_idx])
        for k in ("own", "rent"):
            if k not in best_of:
                continue
            j = best_of[k]
            month = E._first_crossing(np.cumsum(ev["cash"][j]), api_cum)
            vol = E.breakeven_volume(p, api_idx, np.arange(len(kinds)) == j)
            be[k] = {
                "option": names[j],
                "breakeven_month": month,
                "breakeven_tokens_per_month": vol,
                "usd_per_mtok": float(lev[j]),
                "usd_per_mtok_at_scale": float(at_scale["usd_per_mtok"][j]),
                "npv_usd": float(ev["npv"][j]),
                "api_npv_usd": float(ev["npv"][api_idx]),
            }
            # at very large volume another option of the kind may be cheaper: named as such, never mixed in
            js = int(np.argmin(np.where(kinds == k, at_scale["usd_per_mtok"], np.inf)))
            if js != j:
                be[k]["cheapest_at_scale"] = {
                    "option": names[js], "usd_per_mtok_at_scale": float(at_scale["usd_per_mtok"][js]),
                    "breakeven_tokens_per_month": E.breakeven_volume(p, api_idx, np.arange(len(kinds)) == js),
                }

    # --- options shown -----------------------------------------------------------------------------------
    idx = _shown(p, ev)
    reasons_excluded = E.exclusion_reasons(p)
    rows = []
    for j in idx:
        k = str(kinds[j])
        row = {
            "option": names[j], "kind": k, "eligible": bool(mask[j]),
            "excluded_reason": reasons_excluded[j],
            "model": None, "gpu": None, "weights": None, "gpus_per_instance": None, "api_market": None,
            "month1_usd": float(ev["cost"][j][0]), "horizon_month_usd": float(ev["cost"][j][-1]),
            "total_cash_usd": float(ev["cash"][j].sum()), "npv_usd": float(ev["npv"][j]),
            "usd_per_mtok": float(lev[j]),
            "gpus_month1": None, "gpus_horizon": None, "breakeven_month": None,
            "own_breakeven_tokens_per_month": None,
        }
        if k == "api":
            a = p.apis[j]
            row.update(model=a["api_model"], api_market=a["market"],
                       own_breakeven_tokens_per_month=(
                           E.breakeven_volume(p, j, np.arange(len(kinds)) == best_of["own"]) if "own" in best_of else None))
        else:
            c = p.cap.iloc[j - A - (C if k == "own" else 0)]
            g = ev[k]["gpus"][j - A - (C if k == "own" else 0)]
            row.update(model=c["model"], gpu=c["gpu"], weights=c["weights"], gpus_per_instance=int(c["gpus_per_instance"]),
                       gpus_month1=float(g[0]), gpus_horizon=float(g[-1]))
            if api_idx is not None:
                row["breakeven_month"] = E._first_crossing(np.cumsum(ev["cash"][j]), np.cumsum(ev["cash"][api_idx]))
        rows.append(row)
    options = pd.DataFrame(rows).sort_values("npv_usd", kind="stable").reset_index(drop=True)
    monthly = _monthly(p, ev, [j for j in idx], names)

    # --- excluded options and the price of sovereignty ---------------------------------------------------
    excluded = []
    if w.sovereign:
        for k in ("api", "rent"):
            sel = np.where(kinds == k)[0]
            if len(sel):
                j = int(sel[np.argmin(ev["npv"][sel])])
                excluded.append({
                    "kind": k, "count": len(sel), "reason": "sovereign: must run on own premises",
                    "cheapest_option": names[j], "cheapest_npv_usd": float(ev["npv"][j]),
                })

    # --- recommendation and reasons -----------------------------------------------------------------------
    order = [int(j) for j in np.argsort(np.where(mask, ev["npv"], np.inf)) if mask[j]]
    runner = next((j for j in order if kinds[j] != kinds[best]), order[1] if len(order) > 1 else None)
    reasons = []
    reasons.append(
        f"{names[best]} has the lowest net present cost over {H} months: {_fmt_usd(ev['npv'][best])} "
        f"({_fmt_usd(lev[best])} per M tokens levelized over the horizon)."
    )
    if runner is not None:
        reasons.append(
            f"Next best{' of another kind' if kinds[runner] != kinds[best] else ''}: {names[runner]} at {_fmt_usd(ev['npv'][runner])} "
            f"(+{_fmt_usd(ev['npv'][runner] - ev['npv'][best])}"
            + (f", {ev['npv'][runner] / ev['npv'][best] - 1:+.0%})." if ev["npv"][best] > 0 else ").")
        )
    if kinds[best] != "api":
        i = best - A - (C if kinds[best] == "own" else 0)
        c = p.cap.iloc[i]
        g = ev[str(kinds[best])]["gpus"][i]
        par = f"expert-parallel over {c['ep']}" if c["ep"] > 1 else f"tensor-parallel over {c['tp']}"
        reasons.append(
            f"Sized with the performance model for a peak of {_num(ev['peak_req_s'][0])} requests/s in month 1 "
            f"({_num(ev['peak_req_s'][-1])} at month {H}): one instance of {c['model']} on {c['gpus_per_instance']}x "
            f"{c['gpu']} ({c['weights']}, {par}) serves {_num(c['requests_per_s'])} requests/s "
            f"({c['output_tokens_per_s']:.0f} output tokens/s) at TTFT {c['ttft_s']:.2f} s / TPOT {c['tpot_s'] * 1000:.0f} ms; "
            f"{g[0]:.0f} GPUs in month 1, {g[-1]:.0f} at month {H}."
        )
    if w.sovereign:
        cheapest_any = int(np.argmin(ev["npv"]))
        if cheapest_any != best:
            reasons.append(
                f"Sovereignty rules out the APIs and rented GPUs; without it {names[cheapest_any]} would cost "
                f"{_fmt_usd(ev['npv'][cheapest_any])}, so running on own premises costs "
                f"{_fmt_usd(ev['npv'][best] - ev['npv'][cheapest_any])} more over {H} months (the price of sovereignty)."
            )
        else:
            reasons.append("Sovereignty rules out the APIs and rented GPUs, and owning is also the cheapest without it.")
    own_be = be.get("own")
    if own_be and api_idx is not None:
        if own_be["breakeven_tokens_per_month"] is None:
            reasons.append(
                f"Owning ({own_be['option']}) never beats {names[api_idx]} at any volume: even at very large "
                f"scale its cost ({_fmt_usd(own_be['usd_per_mtok_at_scale'])} per M tokens) stays above the API's "
                f"({_fmt_usd(be['api_usd_per_mtok'])})."
            )
            alt = own_be.get("cheapest_at_scale")
            if alt and alt["breakeven_tokens_per_month"] is not None:
                reasons.append(
                    f"At much larger volume another owned deployment, {alt['option']}, would be cheaper "
                    f"({_fmt_usd(alt['usd_per_mtok_at_scale'])} per M tokens at scale) and beat the API above about "
                    f"{_tok(alt['breakeven_tokens_per_month'])} tokens a month."
                )
        else:
            m = own_be["breakeven_month"]
            reasons.append(
                f"Owning ({own_be['option']}) beats {names[api_idx]} above about "
                f"{_tok(own_be['breakeven_tokens_per_month'])} tokens a month held steady "
                f"(this workload: {_tok(tokens[0])} in month 1); "
                + (f"its cumulative cash cost drops below the API's in month {m}." if m else
                   f"its cumulative cash cost stays above the API's through month {H}.")
            )
    recommendation = {
        "option": names[best], "kind": str(kinds[best]), "npv_usd": float(ev["npv"][best]),
        "usd_per_mtok": float(lev[best]),
        "runner_up": names[runner] if runner is not None else None,
        "runner_up_npv_usd": float(ev["npv"][runner]) if runner is not None else None,
        "reasons": reasons,
    }
    fl = E.flips(p, mask) if with_flips else []
    counterfactual = None
    if w.sovereign:
        everything = np.ones(len(kinds), bool)
        cheapest_any = int(np.argmin(ev["npv"]))
        counterfactual = {
            "constraint": "sovereign dropped",
            "option": names[cheapest_any], "kind": str(kinds[cheapest_any]), "npv_usd": float(ev["npv"][cheapest_any]),
            "price_of_sovereignty_usd": float(ev["npv"][best] - ev["npv"][cheapest_any]),
            "flips": E.flips(p, everything) if with_flips else [],
        }
    if w.sovereign:
        cheapest_any = int(np.argmin(ev["npv"]))
        fl.append({
            "lever": "sovereign", "direction": "drop", "multiplier": None,
            "new_option": names[cheapest_any], "new_kind": str(kinds[cheapest_any]),
            "text": f"sovereignty constraint dropped -> {names[cheapest_any]}",
        })
    wd = w.model_dump(mode="json", exclude_none=True)
    wd["resolved"] = {
        "self_host_models": p.self_host_models, "required_quality_tier": p.required_tier,
        "discount_rate_per_year": p.consts["discount_rate_per_year"], "region": w.region,
        "tokens_month1": float(tokens[0]), "tokens_horizon_month": float(tokens[-1]),
        "peak_requests_per_s_month1": float(ev["peak_req_s"][0]), "fx_usd_per_cny": cat.usd_per("CNY"),
        "fx_date": cat.fx["CNY"].usd_per_unit.date if "CNY" in cat.fx else None,
    }
    return Decision(
        workload=wd, options=options, monthly=monthly, capacity=p.cap, recommendation=recommendation,
        breakeven=be, flips=fl, counterfactual=counterfactual, excluded=excluded, api_skipped=p.api_skipped, notes=[*([slo_note] if slo_note else []), *p.notes],
        ledger_builder=lambda: _ledger_dataset(p, ev, idx, names),
    )


def _ledger_dataset(p: E.Prepared, ev: dict, idx: list[int], names: list[str]):
    """The shown options' monthly lines, labelled (option x period, units), with NPV and levelized cost."""
    from inferonomics import ledger

    keys = ("api_usd", "rental_usd", "capex_usd", "depreciation_usd", "financing_usd", "power_usd", "facility_usd",
            "maintenance_usd", "staff_usd", "write_off_usd", "residual_credit_usd", "gpus")
    lines = {k: np.stack([_line(ev, str(ev["kind"][j]), j, p, k) for j in idx]) for k in keys}
    lines["cash_usd"] = ev["cash"][idx]
    lines["cost_usd"] = ev["cost"][idx]
    extra = {"npv_usd": ev["npv"][idx], "usd_per_mtok": ev["usd_per_mtok"][idx],
             "tokens": ev["in_tok"] + ev["out_tok"]}
    ds = ledger.to_dataset(lines, [names[j] for j in idx], "month", extra=extra)
    ds["kind"] = ("option", [str(ev["kind"][j]) for j in idx])
    ds["usd_per_mtok"].attrs["units"] = "USD per 1e6 tokens, levelized"
    ds["tokens"].attrs["units"] = "tokens"
    return ds


__all__ = ["MONTHLY_COLUMNS", "Decision", "breakeven"]
