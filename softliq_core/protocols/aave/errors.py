"""Aave V3's revert reasons: Errors.sol's numeric codes (v3.0–3.3), custom errors from v3.4.

``AaveRevert.code`` is what the contract reverts with for the Pool version in force: the string code
(``'35'``) up to v3.3, the custom error's name (``HealthFactorLowerThanLiquidationThreshold``) from
v3.4 on. A bare ``revert(0, 0)`` (WadRayMath/PercentageMath overflow) has the empty code.
"""

from __future__ import annotations

from softliq_core.protocols.aave.version import V3_0, V3_4, PoolVersion

# Errors.sol (aave-v3-core v1.19.x): name -> code.
CODES: dict[str, str] = {
    "INVALID_AMOUNT": "26",
    "RESERVE_INACTIVE": "27",
    "RESERVE_FROZEN": "28",
    "RESERVE_PAUSED": "29",
    "BORROWING_NOT_ENABLED": "30",
    "NOT_ENOUGH_AVAILABLE_USER_BALANCE": "32",
    "INVALID_INTEREST_RATE_MODE_SELECTED": "33",
    "COLLATERAL_BALANCE_IS_ZERO": "34",
    "HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD": "35",
    "COLLATERAL_CANNOT_COVER_NEW_BORROW": "36",
    "NO_DEBT_OF_SELECTED_TYPE": "39",
    "NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF": "40",
    "UNDERLYING_BALANCE_ZERO": "43",
    "HEALTH_FACTOR_NOT_BELOW_THRESHOLD": "45",
    "COLLATERAL_CANNOT_BE_LIQUIDATED": "46",
    "SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER": "47",
    "BORROW_CAP_EXCEEDED": "50",
    "SUPPLY_CAP_EXCEEDED": "51",
    "LTV_VALIDATION_FAILED": "57",
    "INCONSISTENT_EMODE_CATEGORY": "58",
    "USER_IN_ISOLATION_MODE_OR_LTV_ZERO": "62",
    "INVALID_MINT_AMOUNT": "24",
    "INVALID_BURN_AMOUNT": "25",
    "ASSET_NOT_LISTED": "82",
    # v3.3 (aave-v3-origin Errors.sol)
    "MUST_NOT_LEAVE_DUST": "103",
}

MATH_OVERFLOW = "MATH_OVERFLOW"  # revert(0, 0) in WadRayMath / PercentageMath
SAFECAST_OVERFLOW = "SAFECAST_OVERFLOW"  # SafeCast.toUint128
PANIC_UNDERFLOW = "PANIC_UNDERFLOW"  # Solidity 0.8 checked arithmetic, e.g. burning past a balance
NOT_A_RESERVE = "NOT_A_RESERVE"  # an unlisted asset: its token address is 0, the call reverts empty


def custom_error_name(name: str) -> str:
    """``HEALTH_FACTOR_NOT_BELOW_THRESHOLD`` -> ``HealthFactorNotBelowThreshold`` (v3.4 naming)."""
    return "".join(part.capitalize() for part in name.lower().split("_"))


class AaveRevert(Exception):
    """A call the Pool would revert. ``name`` is Errors.sol's constant, ``code`` what the contract
    of ``version`` reverts with."""

    def __init__(self, name: str, version: PoolVersion = V3_0) -> None:
        if name in (MATH_OVERFLOW, NOT_A_RESERVE):
            code = ""
        elif name == PANIC_UNDERFLOW:
            code = "Panic(0x11)"
        elif name == SAFECAST_OVERFLOW:
            code = "SafeCast: value doesn't fit in 128 bits"
        elif version >= V3_4:
            code = custom_error_name(name)
        else:
            # Names outside Errors.sol are custom errors (counterfactual mechanisms' own rules).
            code = CODES.get(name, name)
        super().__init__(f"{name} ({code!r})")
        self.name = name
        self.code = code
        self.version = version
