"""Share/asset conversions with virtual shares and assets (SharesMathLib, spec §1.5).

The rounding direction is always chosen by the caller so that it favours the protocol.
"""

from __future__ import annotations

from typing import Final

from softliq_core.protocols.morpho.math import mul_div_down, mul_div_up

VIRTUAL_SHARES: Final = 10**6
VIRTUAL_ASSETS: Final = 1


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_down(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div_up(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div_down(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div_up(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)
