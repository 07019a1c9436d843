"""The spec's formulas (``shared/spec/aave_chainlink.md`` §3–§5, v3.0–v3.2), written out here for
the smoke tests, independently of softliq's engine: a check on the deployed market and on the spec.
"""

from __future__ import annotations

RAY = 10**27
WAD = 10**18
HALF_RAY = RAY // 2
PERCENTAGE_FACTOR = 10**4
SECONDS_PER_YEAR = 365 * 86_400
MAX_UINT = 2**256 - 1


def ray_mul(a: int, b: int) -> int:
    return (a * b + HALF_RAY) // RAY


def ray_div(a: int, b: int) -> int:
    return (a * RAY + b // 2) // b


def wad_div(a: int, b: int) -> int:
    return (a * WAD + b // 2) // b


def percent_mul(value: int, percentage: int) -> int:
    return (value * percentage + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


def percent_div(value: int, percentage: int) -> int:
    return (value * PERCENTAGE_FACTOR + percentage // 2) // percentage


def linear_interest(rate: int, elapsed: int) -> int:
    """§3.1: RAY + rate·Δt div SECONDS_PER_YEAR."""
    return RAY + rate * elapsed // SECONDS_PER_YEAR


def compound_interest(rate: int, elapsed: int) -> int:
    """§3.1, ≤ v3.3: the three-term binomial approximation."""
    if elapsed == 0:
        return RAY
    e, s = elapsed, SECONDS_PER_YEAR
    b2 = ray_mul(rate, rate) // (s * s)
    b3 = ray_mul(b2, rate) // s
    third = e * (e - 1) * (e - 2) * b3 // 6 if e > 2 else 0
    return RAY + rate * e // s + e * (e - 1) * b2 // 2 + third


def health_factor(
    collateral_base: list[tuple[int, int]], total_debt_base: int
) -> tuple[int, int, int]:
    """§4, ≤ v3.4: (total collateral, average LT, HF) from [(C_i, LT_i)] and TD."""
    total = sum(c for c, _ in collateral_base)
    avg_lt = sum(c * lt for c, lt in collateral_base) // total if total else 0
    if total_debt_base == 0:
        return total, avg_lt, MAX_UINT
    return total, avg_lt, wad_div(percent_mul(total, avg_lt), total_debt_base)


def value_base(amount: int, price: int, decimals: int) -> int:
    return amount * price // 10**decimals


def liquidation(
    *,
    user_debt: int,
    debt_to_cover: int,
    health: int,
    collateral_balance: int,
    debt_price: int,
    debt_decimals: int,
    collateral_price: int,
    collateral_decimals: int,
    bonus: int,
    protocol_fee: int,
) -> tuple[int, int, int]:
    """§5.2: (debt repaid, collateral to the liquidator, protocol fee)."""
    close_factor = 5_000 if health > 95 * 10**16 else 10_000
    actual_debt = min(debt_to_cover, percent_mul(user_debt, close_factor))
    unit_col, unit_debt = 10**collateral_decimals, 10**debt_decimals
    base = debt_price * actual_debt * unit_col // (collateral_price * unit_debt)
    max_collateral = percent_mul(base, bonus)
    if max_collateral > collateral_balance:
        collateral = collateral_balance
        debt_needed = percent_div(
            collateral_price * collateral * unit_debt // (debt_price * unit_col), bonus
        )
    else:
        collateral, debt_needed = max_collateral, actual_debt
    fee = 0
    if protocol_fee:
        bonus_collateral = collateral - percent_div(collateral, bonus)
        fee = percent_mul(bonus_collateral, protocol_fee)
    return debt_needed, collateral - fee, fee
