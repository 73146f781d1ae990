"""Provider economics: a token factory's yearly P&L, fleet and cash, with uncertainty as a first-class input.

A scenario (YAML, see :mod:`inferonomics.market.scenario`) describes a provider in a base fiscal year and
how its inputs move; :func:`simulate` draws the uncertain inputs ``paths`` times and projects every path
year by year (arrays of shape (paths, years), no loop over paths).

Modelling choices (each is a simplification worth knowing):

Demand and prices
  * Three kinds of segment.  **Token tiers** (model API) sell input and output tokens; a tier's volume is
    total tokens (input + output) mixed as its reference deployment's ISL:OSL, so its blended list price is
    ``(ISL x input price + OSL x output price) / (ISL + OSL)``, times the realized share of list price
    (discounts, free quotas, cache-hit and batch prices).  **GPU rental** sells GPU-hours.  **Classic cloud**
    (compute, storage, databases, network) is revenue with a cash cost and a capex share of revenue.
  * Base-year volume is given, or derived from base-year revenue / base-year price.  ``classic_cloud``
    revenue may be the ``residual`` of the reported total, so the base year adds up to the filing.
  * Volume ``= base x prod(1 + growth) x prod(1 - attrition) x (price index) ** -elasticity``.  Growth is at
    constant prices when an elasticity is set; with elasticity 0 (default) it is the all-in growth.
  * A price path is ``base x prod(1 + change_per_year) x prod(1 + step)`` over dated one-off steps.

Fleet (built on the perf and cost engines)
  * Each tier's reference deployment (model, accelerator, precision, GPUs, ISL/OSL, TPOT/TTFT limits) is
    sized once per scenario by ``perf.api.operating_point`` + ``perf.predict``: tokens/s per GPU at the
    highest load meeting the SLO.  Per path it is scaled by the tier's ``throughput_multiplier`` (model
    error, prefix caching, speculative decoding...) and the fleet-wide software gain per year.
  * Serving GPUs needed ``= average busy GPUs x peak_to_average / peak_utilization``: the fleet is sized
    for the peak hour, with a share kept free for failover and placement; tiers on the same accelerator
    share one pool and peak together (conservative).  With ``serving: {utilization_from: fleet,
    fleet_scenario: ...}`` the fleet simulation replaces the two inputs: serving GPUs needed ``= average
    busy GPUs / utilization``, the utilization of the tier's pool in the fleet scenario's scale table at the
    tier's daily volume (in replicas of the reference deployment), per path and year
    (:mod:`inferonomics.fleet.scale_table`; computed once, cached on disk).  Rental GPUs ``= hours sold / (8760 x utilization)``.
    The training fleet (R&D) is an input in GPU-equivalents with growth.  With ``serving.idle_to_training``
    the serving GPUs the fleet simulation lends to training (its ``training_share`` of the owned fleet)
    count against the training fleet on the same accelerator, and their share of the serving fleet's cost
    is R&D's.  Needs and capacity are counted
    in equivalents of the pool's catalog accelerator (rental hours too: a newer card rents as more
    equivalent-hours), so a price per GPU-hour is per equivalent-hour.  An in-house chip is bought by the
    fleets its ``applies_to`` names (default: serving only; rental customers tend to ask for named cards).
  * Purchases = max(0, need - surviving capacity): growth and replacement at end of life (reported apart:
    the replacement part of a year's purchases is at most what retired that year).  A vintage bought in
    year v serves ``clip(life - age, 0, 1)`` of each year (fractional lives retire part of a vintage) and
    is depreciated straight-line over its life in the same shares; capacity of newer vintages may be higher
    (``throughput_gain_per_year``, an in-house chip from a year on) and their price may move.  Capex is
    paid in the year the capacity enters service (no lead time), which understates capex in the years
    before fast growth.
  * The base-year fleet meets base-year need and was bought over ``initial_fleet_purchase_years`` years with
    purchases growing at a given rate, at the base-year price.  Fleets never sell spare GPUs.
  * Power, facility and operations per GPU-hour come from ``inferonomics.cost.tco`` (accelerator draw at the
    fleet's average utilization + host overhead, x PUE x tariff; facility per kW provisioned a month;
    operations as a share of the gross book of hardware in service).  Data-centre buildings are charged to the
    P&L through the facility cost (the rent-equivalent of owned halls); their purchase is a capex line,
    ``costs.buildings_share_of_it_capex`` x IT capex (cash only, no depreciation line).

P&L and cash (per fiscal year, USD)
  * Cost of revenue = serving and rental fleets' depreciation + power + facility + operations, plus classic
    cloud's cash cost and the depreciation of its capex.  Gross profit = revenue - cost of revenue.
  * R&D = the training fleet's costs (same lines) + other R&D (staff, data) with growth.  SG&A is a share of
    revenue.  Operating profit = gross profit - R&D - SG&A (comparable to adjusted EBITA).
  * Free cash flow = operating profit + depreciation - capex: pre-tax, no working capital, no leases;
    cumulative free cash flow sums the projected years only.
  * R&D-to-gross-profit = R&D / gross profit (infinite when gross profit <= 0); cost-of-revenue ratio =
    cost of revenue / revenue.

Base year and calibration
  * Column 0 of every result array is the modelled base year: same rules, base-year inputs, no growth.
  * A scenario's ``calibration`` targets (reported revenue, adjusted EBITA, capex by kind, AI share...) are
    solved on its central point by moving the inputs each names (:mod:`inferonomics.market.calibrate`); the
    solved values replace those inputs on every path.  ``checks`` are only compared.  ``Result.calibration()``
    sets both beside the modelled base year (P10/P50/P90).

Uncertainty
  * Any number may be a distribution (:mod:`inferonomics.market.dists`); each is drawn once per path (a
    level, not year-to-year noise) by inverse transform from a stream seeded by ``(seed, field path)``, so
    variants reuse their base's draws for shared inputs.  The entries of a per-year list share one draw
    (a path with fast growth in one year has fast growth in all).  Inputs are independent.
  * Draws beyond a field's bounds (normal tails) are clipped to them.
  * Sensitivity (tornado) moves one input from its P10 to its P90, others at P50, in one vectorized run.
"""

from inferonomics.market.api import (
    DEFAULT_PATHS,
    DEFAULT_SEED,
    Result,
    compare,
    sample_inputs,
    sensitivity,
    simulate,
)
from inferonomics.market.dists import Dist, make_dist
from inferonomics.market.scenario import (
    Scenario,
    ScenarioFileError,
    ScenarioSpec,
    builtin_names,
    builtin_table,
    load_scenario,
)
from inferonomics.market.targets import (
    price_for_gross_margin,
    price_path,
    required_cagr,
    required_token_path,
    required_tokens_mtok,
    revenue_path,
)

__all__ = [
    "DEFAULT_PATHS",
    "DEFAULT_SEED",
    "Dist",
    "Result",
    "Scenario",
    "ScenarioFileError",
    "ScenarioSpec",
    "builtin_names",
    "builtin_table",
    "compare",
    "load_scenario",
    "make_dist",
    "price_for_gross_margin",
    "price_path",
    "required_cagr",
    "required_token_path",
    "required_tokens_mtok",
    "revenue_path",
    "sample_inputs",
    "sensitivity",
    "simulate",
]
