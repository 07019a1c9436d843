"""Morpho Blue's revert reasons (ErrorsLib strings) and pre-liquidation's custom errors."""

from __future__ import annotations


class MorphoRevert(Exception):
    """A call the contract would revert; ``reason`` is ErrorsLib's string or the custom error name."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ErrorsLib (morpho-blue src/libraries/ErrorsLib.sol)
NOT_OWNER = "not owner"
MAX_LLTV_EXCEEDED = "max LLTV exceeded"
MAX_FEE_EXCEEDED = "max fee exceeded"
ALREADY_SET = "already set"
IRM_NOT_ENABLED = "IRM not enabled"
LLTV_NOT_ENABLED = "LLTV not enabled"
MARKET_ALREADY_CREATED = "market already created"
NO_CODE = "no code"
MARKET_NOT_CREATED = "market not created"
INCONSISTENT_INPUT = "inconsistent input"
ZERO_ASSETS = "zero assets"
ZERO_ADDRESS = "zero address"
UNAUTHORIZED = "unauthorized"
INSUFFICIENT_COLLATERAL = "insufficient collateral"
INSUFFICIENT_LIQUIDITY = "insufficient liquidity"
HEALTHY_POSITION = "position is healthy"
INVALID_SIGNATURE = "invalid signature"
SIGNATURE_EXPIRED = "signature expired"
INVALID_NONCE = "invalid nonce"
TRANSFER_REVERTED = "transfer reverted"
MAX_UINT128_EXCEEDED = "max uint128 exceeded"
UNDERFLOW = "arithmetic underflow"  # Solidity 0.8 checked arithmetic (panic 0x11), no string

# PreLiquidation custom errors (pre-liquidation src/libraries/ErrorsLib.sol)
PRE_INCONSISTENT_INPUT = "InconsistentInput"
LIQUIDATABLE_POSITION = "LiquidatablePosition"
NOT_PRE_LIQUIDATABLE_POSITION = "NotPreLiquidatablePosition"
PRE_LIQUIDATION_TOO_LARGE = "PreLiquidationTooLarge"
PRE_LLTV_TOO_HIGH = "PreLltvTooHigh"
PRE_LCF_DECREASING = "PreLCFDecreasing"
PRE_LCF_TOO_HIGH = "PreLCFTooHigh"
PRE_LIF_TOO_LOW = "PreLIFTooLow"
PRE_LIF_DECREASING = "PreLIFDecreasing"
PRE_LIF_TOO_HIGH = "PreLIFTooHigh"
