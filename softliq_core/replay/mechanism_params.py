"""Parameters of the other protocols' designs (Maker Clipper, Compound III, Euler v2) in a scenario.

Each mechanism's fields with their defaults and rules. Ratios are decimals (``buf = "1.2"``), times
integers in seconds, amounts decimals in whole loan-asset tokens (``tip = "300"``). Defaults are
close to the contracts' production settings (Maker ETH-A, Compound III USDC on mainnet, a typical
Euler v2 vault), round numbers rather than a claim about any one date:

* maker_clipper: buf 1.2, StairstepExponentialDecrease step 90 s cut 0.99 (or LinearDecrease
  tau), tail 7200 s, cusp 0.4, chip 0.1 %, tip 0 tokens, chop 1.13, no hole limit;
* compound_absorb: liquidate_collateral_factor = the market's LLTV, liquidation_factor 0.95,
  store_front_price_factor 0.6, reserves 0, no target (collateral always for sale), a full absorb
  (``target_health_factor`` set: the partial variant, health measured with
  ``borrow_collateral_factor``, by default the liquidate collateral factor);
* euler_liquidation: max_discount 0.15, cool_off 1 s, slices 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from softliq_core.mechanisms.compound_absorb import CometParams, CompoundAbsorb
from softliq_core.mechanisms.euler_liquidation import EulerLiquidation, EulerParams
from softliq_core.mechanisms.maker_clipper import ClipperParams, MakerClipper
from softliq_core.protocols.maker.abacus import (
    Abacus,
    LinearDecrease,
    StairstepExponentialDecrease,
    wad_to_ray,
)
from softliq_core.protocols.morpho.math import WAD

Value = Decimal | int | str | None


@dataclass(frozen=True)
class Spec:
    default: Value
    kind: str  # "ratio" | "tokens" (decimals), "seconds" | "count" (integers), or "choice"
    rule: str  # said in the error when ``ok`` refuses a value
    ok: Callable[[Any], bool]


def _ratio(default: str, rule: str, ok: Callable[[Decimal], bool]) -> Spec:
    return Spec(Decimal(default), "ratio", rule, ok)


def _fraction(default: str) -> Spec:
    return _ratio(default, "must be within (0, 1)", lambda d: 0 < d < 1)


def _tokens(default: str | None) -> Spec:
    return Spec(
        None if default is None else Decimal(default), "tokens", "must be >= 0", lambda d: d >= 0
    )


def _integer(kind: str, default: int, least: int) -> Spec:
    return Spec(default, kind, f"must be an integer >= {least}", lambda n: n >= least)


CALCS = ("stairstep", "linear")
FIELDS: dict[str, dict[str, Spec]] = {
    "maker_clipper": {
        "buf": _ratio("1.2", "must be >= 1", lambda d: d >= 1),
        "calc": Spec(
            "stairstep", "choice", f"is not one of {', '.join(CALCS)}", CALCS.__contains__
        ),
        "step": _integer("seconds", 90, 1),
        "cut": _fraction("0.99"),
        "tau": _integer("seconds", 3600, 1),
        "tail": _integer("seconds", 7200, 1),
        "cusp": _ratio("0.4", "must be within [0, 1)", lambda d: 0 <= d < 1),
        "chip": _ratio("0.001", "must be within [0, 1)", lambda d: 0 <= d < 1),
        "tip": _tokens("0"),
        "chop": _ratio("1.13", "must be >= 1", lambda d: d >= 1),
        "hole": _tokens(None),
        "ilk_hole": _tokens(None),
    },
    "compound_absorb": {
        "liquidate_collateral_factor": Spec(
            None, "ratio", "must be within (0, 1)", lambda d: 0 < d < 1
        ),
        "liquidation_factor": _ratio("0.95", "must be within (0, 1]", lambda d: 0 < d <= 1),
        "store_front_price_factor": _ratio("0.6", "must be within [0, 1]", lambda d: 0 <= d <= 1),
        "reserves": _tokens("0"),
        "target_reserves": _tokens(None),
        "target_health_factor": Spec(None, "ratio", "must be > 1", lambda d: d > 1),
        "borrow_collateral_factor": Spec(
            None, "ratio", "must be within (0, 1)", lambda d: 0 < d < 1
        ),
    },
    "euler_liquidation": {
        "max_discount": _fraction("0.15"),
        "cool_off": _integer("seconds", 1, 0),
        "slices": _integer("count", 1, 1),
    },
}
ONLY_FOR = {"step": "stairstep", "cut": "stairstep", "tau": "linear"}  # Maker's calc fields


def _parse(spec: Spec, value: Any) -> Value:
    if spec.kind in ("ratio", "tokens"):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
        if not number.is_finite() or (spec.kind == "ratio" and number * WAD % 1):
            raise ValueError(f"{value!r} must be a finite decimal with at most 18 decimals")
        return number
    if spec.kind == "choice":
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} must be an integer")
    return value


def parse_mechanism_params(
    mechanism: str, table: Mapping[str, Any]
) -> tuple[dict[str, Value], list[str]]:
    """The mechanism's fields given in ``table`` (others take their defaults) and every problem,
    each as ``field: rule``."""
    specs = FIELDS[mechanism]
    values: dict[str, Value] = {}
    problems = []
    for name, spec in specs.items():
        if name not in table:
            values[name] = spec.default
            continue
        try:
            value = _parse(spec, table[name])
        except ValueError as error:
            problems.append(f"{name}: {error}")
            continue
        if not spec.ok(value):
            problems.append(f"{name}: {table[name]!r} {spec.rule}")
        values[name] = value
    if mechanism == "maker_clipper":
        problems += [
            f"{name}: only for calc = {calc!r}"
            for name, calc in ONLY_FOR.items()
            if name in table and values["calc"] != calc
        ]
    return values, problems


def canonical_params(values: Mapping[str, Value]) -> dict[str, str | None]:
    return {k: None if v is None else str(v) for k, v in sorted(values.items())}


def _wad(value: Value) -> int:
    assert isinstance(value, Decimal)
    return int(value * WAD)


def _optional_wad(value: Value) -> int | None:
    return None if value is None else _wad(value)


def _units(value: Value, decimals: int) -> int | None:
    """Whole tokens → base units (floored)."""
    return None if value is None else int(Decimal(str(value)).scaleb(decimals))


def _int(value: Value) -> int:
    assert isinstance(value, int)
    return value


def build_mechanism(
    mechanism: str, values: Mapping[str, Value], lltv: int, loan_decimals: int
) -> MakerClipper | CompoundAbsorb | EulerLiquidation:
    """The mechanism on a market with this LLTV and loan token (values parsed and checked)."""
    v = values
    if mechanism == "maker_clipper":
        calc: Abacus = (
            StairstepExponentialDecrease(_int(v["step"]), wad_to_ray(_wad(v["cut"])))
            if v["calc"] == "stairstep"
            else LinearDecrease(_int(v["tau"]))
        )
        return MakerClipper(
            lltv,
            ClipperParams(
                buf=wad_to_ray(_wad(v["buf"])),
                calc=calc,
                tail=_int(v["tail"]),
                cusp=wad_to_ray(_wad(v["cusp"])),
                chip=_wad(v["chip"]),
                tip=_units(v["tip"], loan_decimals) or 0,
                chop=_wad(v["chop"]),
                hole=_units(v["hole"], loan_decimals),
                ilk_hole=_units(v["ilk_hole"], loan_decimals),
            ),
        )
    if mechanism == "compound_absorb":
        return CompoundAbsorb(
            CometParams(
                liquidate_collateral_factor=_optional_wad(v["liquidate_collateral_factor"]) or lltv,
                liquidation_factor=_wad(v["liquidation_factor"]),
                store_front_price_factor=_wad(v["store_front_price_factor"]),
                reserves=_units(v["reserves"], loan_decimals) or 0,
                target_reserves=_units(v["target_reserves"], loan_decimals),
                target_health_factor=_optional_wad(v["target_health_factor"]),
                borrow_collateral_factor=_optional_wad(v["borrow_collateral_factor"]),
            )
        )
    return EulerLiquidation(
        lltv,
        EulerParams(
            _wad(v["max_discount"]), cool_off=_int(v["cool_off"]), slices=_int(v["slices"])
        ),
    )
