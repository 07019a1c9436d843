"""Scenarios: a mechanism, its parameters, who opted in and the liquidator model, with a stable id.

A scenario set is a TOML file of ``[[scenario]]`` tables (``data/scenarios/*.toml``). Parameters are
decimals (``pre_lltv = "0.83"``) turned into exact WAD integers. Every scenario is checked against
every market in its scope before any work, and all problems are reported at once, each naming the
scenario, the market, the field and the rule.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from softliq_core.mechanisms import (
    AaveLiquidation,
    AavePreLiquidation,
    Mechanism,
    MorphoLiquidation,
    MorphoPreLiquidation,
)
from softliq_core.mechanisms.aave_pre_liquidation import (
    AavePreLiquidationParams,
)
from softliq_core.mechanisms.aave_pre_liquidation import (
    parameter_violations as aave_parameter_violations,
)
from softliq_core.mechanisms.llamma_bands import (
    BAND_FIELDS,
    BandParams,
    LlammaBands,
    band_parameter_violations,
)
from softliq_core.protocols.morpho.math import WAD
from softliq_core.protocols.morpho.pre_liquidation import (
    DEFAULT_PRE_LIQUIDATION_PARAMS,
    PreLiquidationParams,
    parameter_violations,
)
from softliq_core.replay.counterfactual_market import ACCRUALS
from softliq_core.replay.liquidator import LiquidatorModel, parse_liquidator
from softliq_core.replay.market_impact import MarketImpact, parse_market_impact
from softliq_core.replay.mechanism_params import (
    FIELDS,
    Value,
    build_mechanism,
    canonical_params,
    parse_mechanism_params,
)

MORPHO_BLUE, AAVE_V3 = "morpho_blue", "aave_v3"
PROTOCOLS = (MORPHO_BLUE, AAVE_V3)
# Each mechanism's protocol; ``history`` replays every protocol unless ``scope.protocol`` says one.
# Maker's, Compound III's, Euler's and the band designs are applied to Morpho markets' positions.
MECHANISM_PROTOCOL = {
    "morpho_liquidation": MORPHO_BLUE,
    "morpho_pre_liquidation": MORPHO_BLUE,
    **dict.fromkeys(FIELDS, MORPHO_BLUE),
    "llamma_bands": MORPHO_BLUE,
    "aave_liquidation": AAVE_V3,
    "aave_pre_liquidation": AAVE_V3,
}
MECHANISMS = ("history", *MECHANISM_PROTOCOL)
PRE_LIQUIDATION_FIELDS = ("pre_lltv", "pre_lcf1", "pre_lcf2", "pre_lif1", "pre_lif2")
AAVE_PRE_LIQUIDATION_FIELDS = ("pre_hf", "pre_lcf1", "pre_lcf2", "pre_lif1", "pre_lif2")
PRESETS = ("blue-sdk-default",)
OPT_IN = ("all", "fraction", "history")


class ScenarioError(ValueError):
    """Invalid scenarios; the message lists every problem found."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("invalid scenario set:\n  " + "\n  ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class MarketRef:
    """What scenario validation needs to know about a market."""

    market_id: str
    label: str  # e.g. "WETH/USDC"
    lltv: int  # Aave: the pool's highest liquidation threshold (WAD)
    loan_decimals: int = 18  # amounts in whole loan tokens (Maker's tip, Compound's reserves)
    protocol: str = MORPHO_BLUE


def parse_wad(value: Any, field_name: str) -> int:
    """``"0.83"`` → 830000000000000000, exactly; refuses more than 18 decimals or negatives."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field_name}: {value!r} is not a decimal number") from None
    scaled = number * WAD
    if number < 0 or scaled != scaled.to_integral_value():
        raise ValueError(f"{field_name}: {value!r} must be >= 0 with at most 18 decimals")
    return int(scaled)


@dataclass(frozen=True)
class Scenario:
    name: str
    mechanism: str
    pre_liquidation: PreLiquidationParams | None = None
    preset: str | None = None
    scope_lltv: int | None = None  # only markets with this LLTV
    scope_markets: tuple[str, ...] = ()  # only these market ids or labels
    opt_in: str = "all"
    opt_in_fraction: float = 1.0
    opt_in_seed: int = 0
    liquidator: LiquidatorModel = field(default_factory=LiquidatorModel)
    accrual: str = (
        "history"  # borrow share price: history's, or the IRM on this scenario's utilisation
    )
    bands: BandParams | None = None  # mechanism "llamma_bands"
    market_impact: MarketImpact = field(default_factory=MarketImpact)  # off by default
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    # The fields of maker_clipper, compound_absorb or euler_liquidation (mechanism_params.FIELDS)
    mechanism_params: tuple[tuple[str, Value], ...] = ()
    aave_pre_liquidation: AavePreLiquidationParams | None = None
    scope_protocol: str | None = None  # history only: replay this protocol alone

    @property
    def protocol(self) -> str | None:
        """The protocol the scenario replays (None: every protocol, a history scenario)."""
        return MECHANISM_PROTOCOL.get(self.mechanism, self.scope_protocol)

    def canonical(self) -> dict[str, Any]:
        """Everything that changes results, and nothing else (not the name). A key that only some
        mechanisms or protocols have is present only for them, so adding one leaves older scenario
        ids as they were."""
        added: dict[str, Any] = {}
        if self.mechanism_params:
            added["mechanism_params"] = canonical_params(dict(self.mechanism_params))
        if self.aave_pre_liquidation is not None:
            added["aave_pre_liquidation"] = {
                k: str(getattr(self.aave_pre_liquidation, k)) for k in AAVE_PRE_LIQUIDATION_FIELDS
            }
        if self.scope_protocol is not None:
            added["scope_protocol"] = self.scope_protocol
        if self.bands:
            added["bands"] = self.bands.canonical()
        if self.market_impact.on:
            added["market_impact"] = self.market_impact.canonical()
        return added | {
            "mechanism": self.mechanism,
            "pre_liquidation": (
                {k: str(getattr(self.pre_liquidation, k)) for k in PRE_LIQUIDATION_FIELDS}
                if self.pre_liquidation
                else None
            ),
            "preset": self.preset,
            "scope": {
                "lltv": str(self.scope_lltv) if self.scope_lltv else None,
                "markets": sorted(self.scope_markets),
            },
            "opt_in": {
                "mode": self.opt_in,
                "fraction": self.opt_in_fraction,
                "seed": self.opt_in_seed,
            },
            "liquidator": self.liquidator.canonical(),
            "accrual": self.accrual,
        }

    @property
    def scenario_id(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def is_history(self) -> bool:
        return self.mechanism == "history"

    def applies_to(self, market: MarketRef) -> bool:
        if self.protocol not in (None, market.protocol):
            return False
        if self.scope_lltv is not None and market.lltv != self.scope_lltv:
            return False
        return not self.scope_markets or bool(
            {market.market_id, market.label} & set(self.scope_markets)
        )

    def mechanism_for(self, market: MarketRef) -> Mechanism | None:
        """The mechanism on this market (None for history); raises ScenarioError if invalid."""
        problems = self.problems_for(market)
        if problems:
            raise ScenarioError(problems)
        if self.mechanism == "morpho_liquidation":
            return MorphoLiquidation(market.lltv)
        if self.mechanism == "morpho_pre_liquidation":
            params = self.pre_liquidation_params_for(market)
            assert params is not None  # problems_for refused a missing preset entry
            return MorphoPreLiquidation(market.lltv, params)
        if self.mechanism in FIELDS:
            return build_mechanism(
                self.mechanism, dict(self.mechanism_params), market.lltv, market.loan_decimals
            )
        if self.bands is not None:
            return LlammaBands(self.bands)
        return None

    def aave_mechanism_for(self, market: MarketRef) -> AaveLiquidation | AavePreLiquidation | None:
        """The Aave mechanism on this pool (None for history); raises ScenarioError if invalid."""
        problems = self.problems_for(market)
        if problems:
            raise ScenarioError(problems)
        if self.mechanism == "aave_liquidation":
            return AaveLiquidation()
        if self.mechanism == "aave_pre_liquidation":
            assert self.aave_pre_liquidation is not None
            return AavePreLiquidation(self.aave_pre_liquidation, _bps(market.lltv))
        return None

    def pre_liquidation_params_for(self, market: MarketRef) -> PreLiquidationParams | None:
        if self.preset == "blue-sdk-default":
            return DEFAULT_PRE_LIQUIDATION_PARAMS.get(market.lltv)
        return self.pre_liquidation

    def problems_for(self, market: MarketRef) -> list[str]:
        if self.mechanism == "aave_pre_liquidation" and self.aave_pre_liquidation is not None:
            where = (
                f"scenario {self.name!r}, market {market.label} "
                f"(highest liquidation threshold {Decimal(market.lltv) / WAD})"
            )
            violations = aave_parameter_violations(self.aave_pre_liquidation, _bps(market.lltv))
            return [f"{where}: {v}" for v in violations]
        if self.mechanism != "morpho_pre_liquidation":
            return []
        where = f"scenario {self.name!r}, market {market.label} (LLTV {Decimal(market.lltv) / WAD})"
        params = self.pre_liquidation_params_for(market)
        if params is None:
            return [f"{where}: preset {self.preset!r} has no parameters for this LLTV"]
        return [f"{where}: {v}" for v in parameter_violations(params, market.lltv)]

    def opted_in(self, borrower: str, authorized_in_history: bool) -> bool:
        """Pre-liquidation is opt-in on chain: all borrowers, a seeded random fraction, or those
        who had authorised a PreLiquidation contract of the market at that moment in history."""
        if self.opt_in == "all":
            return True
        if self.opt_in == "history":
            return authorized_in_history
        digest = keccak(text=f"{self.opt_in_seed}:{borrower}")
        return int.from_bytes(digest[:8], "big") / 2**64 < self.opt_in_fraction


def _bps(wad: int) -> int:
    return wad * 10_000 // WAD


def _aave_problems(table: dict[str, Any], mechanism: str, where: str) -> list[str]:
    """The rules an Aave scenario table must keep, beyond the common ones."""
    problems = []
    protocol = table.get("scope", {}).get("protocol")
    if protocol is not None and protocol not in PROTOCOLS:
        problems.append(
            f"{where}: scope.protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}"
        )
    elif protocol is not None and mechanism != "history":
        problems.append(
            f"{where}: scope.protocol: only for mechanism 'history' (a mechanism names its protocol)"
        )
    if MECHANISM_PROTOCOL.get(mechanism) != AAVE_V3:
        if mechanism != "aave_pre_liquidation" and "pre_hf" in table:
            problems.append(f"{where}: pre_hf: only for mechanism 'aave_pre_liquidation'")
        return problems
    if "lltv" in table.get("scope", {}):
        problems.append(f"{where}: scope.lltv: Aave scenarios apply to a pool, not an LLTV tier")
    if table.get("opt_in", {}).get("mode") == "history":
        problems.append(
            f"{where}: opt_in.mode: 'history' needs a pre-liquidation contract; Aave has none (use all or fraction)"
        )
    if table.get("accrual", "history") != "history":
        problems.append(f"{where}: accrual: Aave's indexes follow history (only 'history')")
    if "market_impact" in table:
        problems.append(f"{where}: market_impact: not modelled for Aave scenarios")
    if mechanism == "aave_liquidation":
        given = [f for f in (*PRE_LIQUIDATION_FIELDS, "pre_hf", "preset") if f in table]
        if given:
            problems.append(f"{where}: {given[0]}: no parameters for mechanism 'aave_liquidation'")
    elif "preset" in table or "pre_lltv" in table:
        problems.append(
            f"{where}: {'preset' if 'preset' in table else 'pre_lltv'}: not an Aave pre-liquidation field (pre_hf, pre_lcf1/2, pre_lif1/2)"
        )
    else:
        missing = [f for f in AAVE_PRE_LIQUIDATION_FIELDS if f not in table]
        if missing:
            problems.append(f"{where}: {missing[0]}: required")
    return problems  # fmt: skip


def _aave_params(
    table: dict[str, Any], where: str
) -> tuple[AavePreLiquidationParams | None, list[str]]:
    try:
        return AavePreLiquidationParams(
            *(parse_wad(table[f], f) for f in AAVE_PRE_LIQUIDATION_FIELDS)
        ), []
    except ValueError as error:
        return None, [f"{where}: {error}"]  # fmt: skip


def _band_params(table: Any) -> tuple[BandParams | None, list[str]]:
    """A scenario's ``bands`` table → the parameters and every problem, named ``bands.<field>``."""
    if not isinstance(table, dict):
        fields = ", ".join(BAND_FIELDS)
        return None, [f"bands: required for mechanism 'llamma_bands': a table of {fields}"]
    problems = [f"bands.{key}: unknown field" for key in table if key not in BAND_FIELDS]
    problems += [f"bands.{key}: required" for key in BAND_FIELDS if key not in table]
    if problems:
        return None, problems
    for count in ("a", "n_bands"):
        if isinstance(table[count], bool) or not isinstance(table[count], int):
            problems.append(f"bands.{count}: {table[count]!r} must be an integer")
    try:
        fee, loan_discount, liquidation_discount = (
            parse_wad(table[f], f"bands.{f}") for f in BAND_FIELDS[2:]
        )
    except ValueError as error:
        problems.append(str(error))
    if problems:
        return None, problems
    params = BandParams(table["a"], table["n_bands"], fee, loan_discount, liquidation_discount)
    violations = band_parameter_violations(params)
    return (None if violations else params), violations


def _scenario_from_table(table: dict[str, Any], index: int) -> tuple[Scenario | None, list[str]]:
    name = str(table.get("name", f"#{index + 1}"))
    where = f"scenario {name!r}"
    problems: list[str] = []
    mechanism = table.get("mechanism")
    if mechanism not in MECHANISMS:
        return None, [f"{where}: mechanism: {mechanism!r} is not one of {', '.join(MECHANISMS)}"]
    known = {
        "name",
        "mechanism",
        "preset",
        "scope",
        "opt_in",
        "liquidator",
        "accrual",
        "bands",
        "market_impact",
        *PRE_LIQUIDATION_FIELDS,
        *FIELDS.get(mechanism, {}),
        *AAVE_PRE_LIQUIDATION_FIELDS,
    }
    problems += [f"{where}: {key}: unknown field" for key in table if key not in known]
    problems += _aave_problems(table, mechanism, where)
    aave_pre_liquidation = None
    if mechanism == "aave_pre_liquidation" and not problems:
        aave_pre_liquidation, found = _aave_params(table, where)
        problems += found

    pre_liquidation = None
    preset = table.get("preset")
    if mechanism == "morpho_pre_liquidation":
        given = [f for f in PRE_LIQUIDATION_FIELDS if f in table]
        if preset is not None:
            if preset not in PRESETS:
                problems.append(f"{where}: preset: {preset!r} is not one of {', '.join(PRESETS)}")
            if given:
                problems.append(
                    f"{where}: {given[0]}: give either a preset or parameters, not both"
                )
        elif len(given) != len(PRE_LIQUIDATION_FIELDS):
            missing = [f for f in PRE_LIQUIDATION_FIELDS if f not in table]
            problems.append(f"{where}: {missing[0]}: required (or set a preset)")
        else:
            try:
                pre_liquidation = PreLiquidationParams(
                    *(parse_wad(table[f], f) for f in PRE_LIQUIDATION_FIELDS)
                )
            except ValueError as error:
                problems.append(f"{where}: {error}")
    elif mechanism in ("history", "morpho_liquidation") and (
        preset is not None or any(f in table for f in PRE_LIQUIDATION_FIELDS)
    ):
        problems.append(f"{where}: pre-liquidation parameters given to mechanism {mechanism!r}")

    mechanism_params: dict[str, Value] = {}
    if mechanism in FIELDS:
        mechanism_params, found = parse_mechanism_params(mechanism, table)
        problems += [f"{where}: {problem}" for problem in found]
        if table.get("accrual", "history") != "history":
            problems.append(
                f'{where}: accrual: {mechanism} follows history\'s share price (accrual = "history")'
            )
    bands = None
    if mechanism == "llamma_bands":
        bands, found = _band_params(table.get("bands"))
        problems += [f"{where}: {problem}" for problem in found]
    elif "bands" in table:
        problems.append(f"{where}: bands: band parameters given to mechanism {mechanism!r}")

    market_impact, found = parse_market_impact(table.get("market_impact", {}))
    problems += [f"{where}: {problem}" for problem in found]

    scope = table.get("scope", {})
    scope_lltv = None
    if "lltv" in scope:
        try:
            scope_lltv = parse_wad(scope["lltv"], "scope.lltv")
        except ValueError as error:
            problems.append(f"{where}: {error}")
    opt_in = table.get("opt_in", {"mode": "all"})
    mode = opt_in.get("mode", "all")
    if mode not in OPT_IN:
        problems.append(f"{where}: opt_in.mode: {mode!r} is not one of {', '.join(OPT_IN)}")
    fraction = float(opt_in.get("fraction", 1.0))
    if not 0.0 <= fraction <= 1.0:
        problems.append(f"{where}: opt_in.fraction: {fraction} must be within [0, 1]")
    accrual = table.get("accrual", "history")
    if accrual not in ACCRUALS:
        problems.append(f"{where}: accrual: {accrual!r} is not one of {', '.join(ACCRUALS)}")
    liquidator_table = table.get("liquidator", {})
    if isinstance(liquidator_table, dict):
        liquidator, found = parse_liquidator(liquidator_table)
        problems += [f"{where}: {problem}" for problem in found]
    else:
        problems.append(f"{where}: liquidator: must be a table")
    if problems:
        return None, problems
    return Scenario(
        name=name,
        mechanism=mechanism,
        pre_liquidation=pre_liquidation,
        preset=preset,
        scope_lltv=scope_lltv,
        scope_markets=tuple(scope.get("markets", ())),
        opt_in=mode,
        opt_in_fraction=fraction,
        opt_in_seed=int(opt_in.get("seed", 0)),
        liquidator=liquidator,
        accrual=accrual,
        mechanism_params=tuple(mechanism_params.items()),
        aave_pre_liquidation=aave_pre_liquidation,
        scope_protocol=scope.get("protocol"),
        bands=bands,
        market_impact=market_impact,
    ), []


LIST_VALUED = {("scope", "markets")}  # fields whose value is a list, not a grid axis


def _axes(
    table: dict[str, Any], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], list[Any]]]:
    """Every list-valued field of a grid table (at any depth) is an axis."""
    axes = []
    for key, value in table.items():
        here = (*path, key)
        if isinstance(value, dict):
            axes += _axes(value, here)
        elif isinstance(value, list) and here not in LIST_VALUED:
            axes.append((here, value))
    return axes


def _with(table: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    head, *rest = path
    return {**table, head: _with(table[head], tuple(rest), value) if rest else value}


def expand_grid(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """A ``[[grid]]`` table → one scenario table per point of the cartesian product of its axes,
    named ``name[field=value,...]`` (the scenario_id depends only on the parameters)."""
    axes = _axes(grid)
    tables = []
    for point in itertools.product(*(values for _, values in axes)):
        table = grid
        for (path, _), value in zip(axes, point, strict=True):
            table = _with(table, path, value)
        label = ",".join(
            f"{'.'.join(path)}={value}" for (path, _), value in zip(axes, point, strict=True)
        )
        tables.append({**table, "name": f"{grid.get('name', 'grid')}[{label}]"})
    return tables


def parse_scenarios(document: dict[str, Any]) -> list[Scenario]:
    """``[[scenario]]`` tables and ``[[grid]]`` tables (lists are axes), all checked at once."""
    tables = list(document.get("scenario", []))
    for grid in document.get("grid", []):
        tables += expand_grid(grid)
    if not tables:
        raise ScenarioError(["no [[scenario]] or [[grid]] tables"])
    scenarios, problems = [], []
    for index, table in enumerate(tables):
        scenario, found = _scenario_from_table(table, index)
        problems += found
        if scenario is not None:
            scenarios.append(scenario)
    names = [s.name for s in scenarios]
    problems += [
        f"scenario {n!r}: name: used more than once"
        for n in sorted({n for n in names if names.count(n) > 1})
    ]
    first_with: dict[str, str] = {}
    for scenario in scenarios:
        earlier = first_with.setdefault(scenario.scenario_id, scenario.name)
        if earlier != scenario.name:
            problems.append(f"scenario {scenario.name!r}: same definition as {earlier!r}")
    if problems:
        raise ScenarioError(problems)
    return scenarios


def load_scenarios(path: str | Path) -> list[Scenario]:
    with open(path, "rb") as file:
        return parse_scenarios(tomllib.load(file))


def scenario_chunks(scenarios: Sequence[Scenario], chunks: int) -> list[list[Scenario]]:
    """Split a scenario set into at most ``chunks`` parts of near-equal size, replayed in parallel
    (a chunk's outcome rows do not depend on the other chunks)."""
    if chunks < 1:
        raise ScenarioError([f"scenario chunks: {chunks} must be at least 1"])
    return [list(scenarios[i::chunks]) for i in range(min(chunks, len(scenarios)))]


def validate_scenarios(scenarios: Iterable[Scenario], markets: Iterable[MarketRef]) -> None:
    """Refuse, before any work, a scenario whose parameters are invalid on a market in its scope."""
    markets = list(markets)
    problems = [p for s in scenarios for m in markets if s.applies_to(m) for p in s.problems_for(m)]
    if problems:
        raise ScenarioError(problems)
