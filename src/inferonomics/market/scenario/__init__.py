"""Provider scenario files: schema (pydantic v2, ``extra="forbid"``), loading, ``base:`` inheritance.

A scenario is a YAML mapping.  Every numeric input is a :class:`Spec`, the one quantity type of every file
(:class:`inferonomics.quantity.Quantity`): a bare number, a mapping with ``value`` (a fixed number), or a
mapping with ``dist`` and its parameters (see :mod:`inferonomics.ledger.dists`); either kind may carry
``currency`` and ``currency_year`` (converted to USD at the catalog's dated rate, the provenance says
which), ``unit`` (from :data:`inferonomics.quantity.UNITS`), ``source`` + ``date`` or ``assumption``, and
``note``.  Fields named ``..._per_year`` that hold rates (growth, price change, attrition) also accept a
list, one entry per projected year; the last entry repeats.

A variant names its base (``base: alibaba-100b`` or ``extends: ...``, a built-in name or a path relative
to the variant; read by the one loader, :class:`inferonomics.files.FileKind`) and overrides a few fields:
mappings merge key by key, lists, numbers and numeric inputs (a mapping with ``value`` or ``dist``)
replace whole, ``null`` removes.

Errors name the file, the field path (``token_tiers.flagship.growth_per_year[2].p10``), the value and
what is allowed.

The module is split by job: :mod:`.inputs` (numeric inputs), :mod:`.models` (the file's sections),
:mod:`.loading` (reading, ``base:``, validation), :mod:`.errors` (messages), :mod:`.leaves` (the loaded
scenario and its inputs), :mod:`.throughput` (tier throughput from the perf engine).  Every name is
re-exported here.
"""

from inferonomics.market.scenario.errors import (  # noqa: F401
    ScenarioFileError,
    _fail,
    _field_hint,
    _inner_model,
    format_validation,
    loc_path,
)
from inferonomics.market.scenario.inputs import (  # noqa: F401
    Money,
    Num,
    NumPath,
    Rate,
    Share,
    Spec,
    _as_list,
    _bounds,
    _coerce,
    _zero,
)
from inferonomics.market.scenario.leaves import (  # noqa: F401
    Leaf,
    Scenario,
    _finish,
    _walk,
)
from inferonomics.market.scenario.loading import (  # noqa: F401
    SCENARIO_DIR,
    SCENARIO_PACKAGE,
    _builtin_text,
    _is_number_spec,
    _looks_like_path,
    _parse_yaml,
    _read,
    _resolve,
    builtin_names,
    builtin_table,
    load_scenario,
    merge,
)
from inferonomics.market.scenario.models import (  # noqa: F401
    METRIC_CHECKS,
    BaseYear,
    Calibration,
    CalibrationTarget,
    Check,
    ClassicCloud,
    Correlation,
    Costs,
    GpuRental,
    InHouse,
    MarketLink,
    Pool,
    PriceStep,
    Rnd,
    ScenarioSpec,
    Serving,
    Target,
    TierDeployment,
    TokenTier,
    Training,
    _exactly_one,
    _slug,
    _Strict,
)
from inferonomics.market.scenario.throughput import (  # noqa: F401
    _PERF_CACHE,
    _PRODUCTION_FIELDS,
    _production,
    tier_throughput,
)
