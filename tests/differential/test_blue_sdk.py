"""softliq's AdaptiveCurveIRM and pre-liquidation math against @morpho-org/blue-sdk (npm), case by case.

Neither contract is on a registry as Solidity, so blue-sdk's bigint transcription is the independent
reference: ``node/sdk_oracle.mjs`` reads random cases as JSON Lines and answers with the SDK's
values. Each family has >= 10,000 seeded random cases (``SOFTLIQ_SDK_SEED`` changes the seed).

Where the SDK and the contract differ, the contract (spec §2, §4, which quote it) wins and the
test says so:

* ``PreLiquidationPosition.seizableCollateral`` is not capped by the position's collateral nor its
  repayable shares by the debt (preLCF > 1), and is 0 when nothing can be repaid. The contract's ``preLiquidate`` with ``repaidShares = repayable`` then
  reverts: repaying more shares than the debt underflows in ``Morpho.repay``, seizing more than the
  collateral underflows in ``Morpho.withdrawCollateral``, seizing 0
  reverts ``zero assets`` there, and ``repaidShares = 0`` is ``InconsistentInput``. softliq's
  ``pre_liquidate`` must revert the same way in those cases, and agree with the SDK elsewhere.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from typing import Any

from softliq_core.protocols.morpho import errors
from softliq_core.protocols.morpho.errors import MorphoRevert
from softliq_core.protocols.morpho.irm import (
    LN_WEI,
    MAX_RATE_AT_TARGET,
    MIN_RATE_AT_TARGET,
    WEXP_UPPER_BOUND,
    adaptive_curve_borrow_rate,
    w_exp,
)
from softliq_core.protocols.morpho.liquidation import seized_for_repaid_shares
from softliq_core.protocols.morpho.market import Market, Position
from softliq_core.protocols.morpho.math import WAD, w_div_down
from softliq_core.protocols.morpho.pre_liquidation import (
    DEFAULT_PRE_LIQUIDATION_PARAMS,
    PreLiquidationParams,
    parameter_violations,
    pre_liquidate,
    pre_liquidation_terms,
)

from . import artifacts

N_CASES = int(os.environ.get("SOFTLIQ_SDK_CASES", "10000"))
SEED = int(os.environ.get("SOFTLIQ_SDK_SEED", "11"))
YEAR = 365 * 86_400


def sdk_answers(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cache = artifacts.build()
    done = subprocess.run(
        ["node", str(artifacts.NODE_DIR / "sdk_oracle.mjs"), str(cache)],
        input="\n".join(json.dumps(c) for c in cases) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(answers) == len(cases)
    return answers


# -- AdaptiveCurveIRM -----------------------------------------------------------------------


def irm_cases(rng: random.Random, n: int) -> list[dict[str, Any]]:
    cases = []
    for _ in range(n):
        supply = rng.choice([0, rng.randint(1, 10**6), rng.randint(1, 10**30)])
        utilization = rng.choice(
            [rng.random(), 0.9, 1.0, 0.0, rng.uniform(0.85, 0.95), rng.uniform(1.0, 1.1)]
        )
        borrow = int(supply * utilization) if supply else rng.choice([0, 1])
        start = rng.choice(
            [
                0,
                MIN_RATE_AT_TARGET,
                MAX_RATE_AT_TARGET,
                rng.randint(MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET),
                rng.randint(MIN_RATE_AT_TARGET, MAX_RATE_AT_TARGET),
            ]
        )
        elapsed = rng.choice(
            [0, 1, 12, rng.randint(1, 86_400), rng.randint(1, 5 * YEAR), rng.randint(1, 10**10)]
        )
        x = rng.choice(
            [
                rng.randint(LN_WEI - WAD, WEXP_UPPER_BOUND + WAD),
                rng.randint(-5 * WAD, 5 * WAD),
                LN_WEI,
                LN_WEI - 1,
                WEXP_UPPER_BOUND,
                WEXP_UPPER_BOUND - 1,
                0,
            ]
        )
        cases.append(
            {
                "kind": "irm",
                "total_supply_assets": str(supply),
                "total_borrow_assets": str(borrow),
                "start_rate_at_target": str(start),
                "elapsed": str(elapsed),
                "w_exp_x": str(x),
            }
        )
    return cases


def test_adaptive_curve_irm_matches_blue_sdk() -> None:
    cases = irm_cases(random.Random(SEED), N_CASES)
    mismatches = []
    for case, sdk in zip(cases, sdk_answers(cases), strict=True):
        market = Market(
            total_supply_assets=int(case["total_supply_assets"]),
            total_borrow_assets=int(case["total_borrow_assets"]),
            last_update=0,
        )
        rate = adaptive_curve_borrow_rate(
            market, int(case["start_rate_at_target"]), int(case["elapsed"])
        )
        mine = {
            "avg_borrow_rate": str(rate.avg_borrow_rate),
            "end_rate_at_target": str(rate.end_rate_at_target),
            "w_exp": str(w_exp(int(case["w_exp_x"]))),
        }
        theirs = {k: sdk.get(k) for k in mine}
        if mine != theirs:
            mismatches.append((case, mine, sdk))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ; first: {mismatches[:3]}"


# -- pre-liquidation ------------------------------------------------------------------------

LLTVS = sorted(DEFAULT_PRE_LIQUIDATION_PARAMS)


def random_params(rng: random.Random, lltv: int) -> PreLiquidationParams:
    """Default parameters (blue-sdk registry) half the time, else random valid ones."""
    if rng.random() < 0.5:
        return DEFAULT_PRE_LIQUIDATION_PARAMS[lltv]
    while True:
        pre_lltv = rng.randint(lltv // 2, lltv - 1)
        lcf1 = rng.randint(0, WAD)
        lcf2 = rng.randint(lcf1, 2 * WAD)
        lif_cap = w_div_down(WAD, lltv)
        lif1 = rng.randint(WAD, lif_cap)
        lif2 = rng.randint(lif1, lif_cap)
        params = PreLiquidationParams(pre_lltv, lcf1, lcf2, lif1, lif2)
        if not parameter_violations(params, lltv):
            return params


def pre_liquidation_cases(rng: random.Random, n: int) -> list[dict[str, Any]]:
    cases = []
    for _ in range(n):
        lltv = rng.choice(LLTVS)
        params = random_params(rng, lltv)
        total_borrow = rng.choice([rng.randint(1, 10**9), rng.randint(1, 10**30)])
        total_borrow_shares = total_borrow * 10**6 * rng.randint(900, 1000) // 1000 + rng.randint(
            0, 10**6
        )
        total_supply = total_borrow + rng.randint(0, 10**30)
        borrow_shares = rng.choice([total_borrow_shares, rng.randint(1, total_borrow_shares)])
        borrowed = (borrow_shares * (total_borrow + 1) + total_borrow_shares + 10**6 - 1) // (
            total_borrow_shares + 10**6
        )
        price = rng.choice([rng.randint(1, 10**44), 10**36, rng.randint(10**20, 10**40)])
        # An LTV around the window (preLltv, LLTV], and its edges.
        target = rng.choice(
            [
                rng.randint(params.pre_lltv - WAD // 50, lltv + WAD // 50),
                rng.randint(params.pre_lltv, lltv),
                params.pre_lltv,
                lltv,
            ]
        )
        target = max(target, WAD // 100)
        collateral = max(borrowed * 10**36 * WAD // (price * target), 0) + rng.choice([0, 0, 1, -1])
        collateral = max(collateral, 0)
        cases.append(
            {
                "kind": "pre",
                "lltv": str(lltv),
                "pre_lltv": str(params.pre_lltv),
                "pre_lcf1": str(params.pre_lcf1),
                "pre_lcf2": str(params.pre_lcf2),
                "pre_lif1": str(params.pre_lif1),
                "pre_lif2": str(params.pre_lif2),
                "total_supply_assets": str(total_supply),
                "total_supply_shares": str(total_supply * 10**6),
                "total_borrow_assets": str(total_borrow),
                "total_borrow_shares": str(total_borrow_shares),
                "borrow_shares": str(borrow_shares),
                "collateral": str(collateral),
                "price": str(price),
                "market_price": str(price),
            }
        )
    return cases


def test_pre_liquidation_matches_blue_sdk() -> None:
    cases = pre_liquidation_cases(random.Random(SEED + 1), N_CASES)
    mismatches: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []
    in_window = contract_wins = 0
    for case, sdk in zip(cases, sdk_answers(cases), strict=True):
        assert "error" not in sdk, (case, sdk)
        c = {k: int(v) for k, v in case.items() if k != "kind"}
        params = PreLiquidationParams(
            c["pre_lltv"], c["pre_lcf1"], c["pre_lcf2"], c["pre_lif1"], c["pre_lif2"]
        )
        market = Market(
            c["total_supply_assets"],
            c["total_supply_shares"],
            c["total_borrow_assets"],
            c["total_borrow_shares"],
        )
        position = Position(0, c["borrow_shares"], c["collateral"])
        try:
            terms = pre_liquidation_terms(market, position, c["lltv"], params, c["price"])
        except MorphoRevert as revert:
            if sdk["is_liquidatable"]:
                mismatches.append(("window", case, sdk, revert.reason))
            continue
        in_window += 1
        if not sdk["is_liquidatable"]:
            mismatches.append(("window", case, sdk, terms))
            continue
        quotient = w_div_down(terms.ltv - params.pre_lltv, c["lltv"] - params.pre_lltv)
        mine = {
            "ltv": str(terms.ltv),
            "quotient": str(quotient),
            "pre_lcf": str(terms.pre_lcf),
            "pre_lif": str(terms.pre_lif),
            "repayable_shares": str(terms.repayable_shares),
            "seizable_collateral": str(
                seized_for_repaid_shares(terms.repayable_shares, c["price"], terms.pre_lif, market)
                if terms.repayable_shares
                else 0
            ),
        }
        theirs = {k: sdk.get(k) for k in mine}
        if mine != theirs:
            mismatches.append(("terms", case, sdk, mine))
            continue
        # The largest pre-liquidation, as the contract runs it.
        seizable = int(sdk["seizable_collateral"])
        try:
            result = pre_liquidate(
                market.copy(),
                position.copy(),
                c["lltv"],
                params,
                c["price"],
                c["market_price"],
                authorized=True,
                repaid_shares=terms.repayable_shares,
            )
            outcome: Any = result.seized_assets
        except MorphoRevert as revert:
            outcome = revert.reason
        if terms.repayable_shares == 0:
            # SDK: seizable 0; contract: preLiquidate(0, 0) reverts InconsistentInput.
            expected: Any = errors.PRE_INCONSISTENT_INPUT
        elif terms.repayable_shares > c["borrow_shares"]:
            # preLCF > 1: the SDK's repayable shares exceed the debt; contract: Morpho.repay
            # underflows (a liquidator passes min(repayable, borrowShares), spec §4.2 step 7).
            expected = errors.UNDERFLOW
        elif seizable > c["collateral"]:
            # SDK does not cap; contract: withdrawCollateral underflows.
            expected = errors.UNDERFLOW
        elif seizable == 0:
            # SDK: 0; contract: Morpho.withdrawCollateral(0) reverts "zero assets".
            expected = errors.ZERO_ASSETS
        else:
            expected = seizable
        if not isinstance(expected, int):
            contract_wins += 1
        if outcome != expected:
            mismatches.append(("pre_liquidate", case, sdk, outcome))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ; first: {mismatches[:3]}"
    # The cases must exercise the window, not only its outside.
    assert in_window > N_CASES // 4, in_window
    print(f"pre-liquidation: {in_window} cases in the window, {contract_wins} where contract wins")


def test_sdk_default_params_equal_softliq_registry() -> None:
    """blue-sdk getDefaultPreLiquidationParams(lltv) == softliq's DEFAULT_PRE_LIQUIDATION_PARAMS."""
    lltvs = sorted(DEFAULT_PRE_LIQUIDATION_PARAMS)
    answers = sdk_answers([{"kind": "defaults", "lltv": str(lltv)} for lltv in lltvs])
    for lltv, sdk in zip(lltvs, answers, strict=True):
        p = DEFAULT_PRE_LIQUIDATION_PARAMS[lltv]
        assert sdk == {
            "preLltv": str(p.pre_lltv),
            "preLCF1": str(p.pre_lcf1),
            "preLCF2": str(p.pre_lcf2),
            "preLIF1": str(p.pre_lif1),
            "preLIF2": str(p.pre_lif2),
        }, lltv
