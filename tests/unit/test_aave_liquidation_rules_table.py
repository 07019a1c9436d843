"""The v3.3+ liquidation rules, which no registry package ships bytecode for (the EVM harness runs
v3.0.x), checked against a table worked out by hand from the spec (aave_chainlink.md §5.3: the
position close factor, MIN_BASE_MAX_CLOSE_FACTOR_THRESHOLD $2,000, MIN_LEFTOVER_BASE $1,000), with
the v3.0–3.2 rule beside it. Debt in USDC ($1, 6 decimals), collateral in WETH ($1,900, 18);
base amounts in the oracle's 8-decimal USD.
"""

from __future__ import annotations

import pytest

from softliq_core.protocols.aave.liquidation import (
    CloseFactorInputs,
    CollateralAmounts,
    leaves_dust,
    max_liquidatable_debt,
)
from softliq_core.protocols.aave.version import V3_0, V3_2, V3_3, V3_4, PoolVersion

USD = 10**8
USDC_UNIT, USDC_PRICE = 10**6, 1 * USD
WETH_UNIT, WETH_PRICE = 10**18, 1_900 * USD
HF = 10**16  # hundredths of a WAD health factor


def _inputs(hf: int, debt_usd: int, collateral_usd: int, total_debt_usd: int) -> CloseFactorInputs:
    return CloseFactorInputs(
        health_factor=hf * HF,
        user_reserve_debt=debt_usd * USDC_UNIT,
        debt_base=debt_usd * USD,
        collateral_base=collateral_usd * USD,
        total_debt_base=total_debt_usd * USD,
        debt_price=USDC_PRICE,
        debt_unit=USDC_UNIT,
    )


# (version, HF in hundredths, USDC debt $, this collateral $, whole position's debt $) -> the most
# USDC one call may repay, worked by hand:
CLOSE_FACTOR_TABLE = [
    # v3.0–3.2: half of this reserve's debt above HF 0.95, all of it at or below
    (V3_0, 96, 1_000, 10_000, 1_000, 500),
    (V3_2, 95, 1_000, 10_000, 1_000, 1_000),
    (V3_0, 96, 1_999, 10_000, 1_999, 999.5),  # no small-position rule before v3.3
    # v3.3+: half of the *position's* debt, when collateral and debt are both >= $2,000
    (V3_3, 96, 5_000, 10_000, 5_000, 2_500),
    (V3_3, 96, 3_000, 10_000, 4_000, 2_000),  # $3,000 > half of $4,000: capped at $2,000
    (V3_3, 96, 2_000, 10_000, 10_000, 2_000),  # $2,000 <= half of $10,000: all of it
    # v3.3+: 100 % when either side is under $2,000, or HF <= 0.95
    (V3_3, 96, 1_999, 10_000, 1_999, 1_999),
    (V3_3, 96, 5_000, 1_999, 5_000, 5_000),
    (V3_4, 95, 5_000, 10_000, 5_000, 5_000),
]


@pytest.mark.parametrize(
    ("version", "hf", "debt", "collateral", "total", "most"), CLOSE_FACTOR_TABLE
)
def test_close_factor_table(
    version: PoolVersion, hf: int, debt: int, collateral: int, total: int, most: float
) -> None:
    inputs = _inputs(hf, debt, collateral, total)
    assert max_liquidatable_debt(version, inputs) == int(most * USDC_UNIT)


# A position of 1,600 USDC debt against 1 WETH; (version, USDC repaid, WETH seized in thousandths)
# -> whether the partial liquidation leaves dust (< $1,000 of debt or of collateral):
DUST_TABLE = [
    (V3_3, 1_000, 300, True),  # $600 of debt left
    (V3_3, 500, 300, False),  # $1,100 of debt, 0.7 WETH = $1,330 of collateral left
    (V3_3, 500, 500, True),  # 0.5 WETH = $950 of collateral left
    (V3_3, 600, 400, False),  # exactly $1,000 of debt left is allowed
    (V3_3, 1_600, 900, False),  # the debt cleared: no leftover rule
    (V3_3, 100, 1_000, False),  # the collateral cleared
    (V3_4, 1_000, 300, True),
    (V3_2, 1_000, 300, False),  # no dust rule before v3.3
]


@pytest.mark.parametrize(("version", "repaid", "seized_milli", "dust"), DUST_TABLE)
def test_dust_table(version: PoolVersion, repaid: int, seized_milli: int, dust: bool) -> None:
    seized = seized_milli * WETH_UNIT // 1_000
    amounts = CollateralAmounts(repaid * USDC_UNIT, seized, 0)
    assert (
        leaves_dust(
            version,
            user_reserve_debt=1_600 * USDC_UNIT,
            user_collateral_balance=WETH_UNIT,
            amounts=amounts,
            debt_price=USDC_PRICE,
            debt_unit=USDC_UNIT,
            collateral_price=WETH_PRICE,
            collateral_unit=WETH_UNIT,
        )
        is dust
    )
