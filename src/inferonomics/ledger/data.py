"""The ledger's own money inputs (``data/ledger.yaml``): published system prices and facility prices by
region, validated like catalog records (value + source and date, or an assumption)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferonomics.catalog.schema import Sourced


class Money(Sourced):
    """A price in ``currency`` (the ledger converts it at the catalog's dated rate); its unit, when given,
    is money in that same currency (``cny_per_server`` with ``currency: CNY``)."""

    currency: str = "USD"

    @model_validator(mode="after")
    def _unit_currency(self) -> Money:
        from inferonomics.quantity import UNIT_CURRENCIES, unit_currency

        cur = unit_currency(self.unit)
        if self.unit is not None and cur != self.currency.upper():
            what = f"an amount in {cur}" if cur else "not money"
            raise ValueError(f"unit {self.unit!r} is {what}, but currency is {self.currency}: the unit says "
                             "what the value is in (money units start with a currency: "
                             f"{', '.join(UNIT_CURRENCIES)})")
        return self


class System(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accelerator: str
    gpus: int = Field(gt=0)
    price: Money


class Facility(Sourced):
    region: str


class LedgerData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    network_capex_frac_of_system: Sourced
    systems: list[System]
    facility_usd_per_kw_month: list[Facility]


@lru_cache(maxsize=1)
def ledger_data() -> LedgerData:
    from importlib import resources

    import yaml

    from inferonomics.catalog import _format_pydantic
    from inferonomics.errors import CatalogFileError

    text = (resources.files("inferonomics.ledger") / "data" / "ledger.yaml").read_text("utf-8")
    try:
        return LedgerData(**yaml.safe_load(text))
    except ValidationError as exc:  # name the file
        raise CatalogFileError(f"ledger/data/ledger.yaml: {_format_pydantic(exc)}") from None


def capex_terms(acc, catalog) -> dict:
    """Capex of one accelerator in service, split as (accelerator price, server + network share of it).

    With a published system price: ``system price / GPUs x (1 + network share of system)`` per GPU, and the
    server + network share is what that adds to the card price.  Otherwise the catalog constant
    ``server_network_capex_frac`` of the card price.  ``source`` says which."""
    d = ledger_data()
    card = acc.purchase_price_usd.value
    sysrec = next((s for s in d.systems if s.accelerator == acc.slug), None)
    if sysrec is None:
        frac = catalog.const("server_network_capex_frac")
        return {
            "accelerator_usd": card, "server_network_frac": frac, "capex_per_gpu_usd": card * (1.0 + frac),
            "capex_source": "catalog constant server_network_capex_frac (no published system price)",
        }
    fx = catalog.usd_per(sysrec.price.currency)
    net = d.network_capex_frac_of_system.value
    per_gpu = sysrec.price.value * fx / sysrec.gpus * (1.0 + net)
    fx_note = ""
    if sysrec.price.currency.upper() != "USD":
        fx_rec = catalog.fx.get(sysrec.price.currency.upper())
        fx_note = f", converted at the catalog {sysrec.price.currency} rate of {fx_rec.usd_per_unit.date}" if fx_rec else ""
    return {
        "accelerator_usd": card, "server_network_frac": per_gpu / card - 1.0, "capex_per_gpu_usd": per_gpu,
        "capex_source": f"published {sysrec.gpus}-GPU system price {sysrec.price.value:,.0f} {sysrec.price.currency} "
                        f"({sysrec.price.provenance}{fx_note}) + {net:.0%} network",
    }


def facility_usd_per_kw_month(region: str, catalog) -> tuple[float, str]:
    """Facility price of a region and where it comes from (the catalog constant, named, if none)."""
    rec = next((f for f in ledger_data().facility_usd_per_kw_month if f.region == region), None)
    if rec is None:
        v = catalog.const("facility_usd_per_kw_month")
        return v, (f"no facility price for region {region}: the catalog constant facility_usd_per_kw_month "
                   f"(USD {v:g}, a North American colocation price) is used")
    return rec.value, f"region {region}: {rec.provenance}"


__all__ = ["LedgerData", "capex_terms", "facility_usd_per_kw_month", "ledger_data"]
