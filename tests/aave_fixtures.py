"""A small Aave V3 pool for tests: WETH, USDC and wstETH reserves, eMode 1 (ETH correlated)."""

from __future__ import annotations

from softliq_core.protocols.aave.pool import AavePool
from softliq_core.protocols.aave.rates import RateStrategy
from softliq_core.protocols.aave.reserve import EModeCategory, ReserveConfig
from softliq_core.protocols.aave.version import PoolVersion

RAY = 10**27
POOL = "0x" + "87" * 20
TREASURY = "0x" + "46" * 20
WETH = "0x" + "c0" * 20
USDC = "0x" + "a0" * 20
WSTETH = "0x" + "7f" * 20
ALICE = "0x" + "a1" * 20
BOB = "0x" + "b0" * 20
CAROL = "0x" + "ca" * 20
LIQUIDATOR = "0x" + "1d" * 20
T0 = 1_700_000_000

WETH_CONFIG = ReserveConfig(
    ltv=8050,
    liquidation_threshold=8300,
    liquidation_bonus=10500,
    decimals=18,
    reserve_factor=1500,
    liquidation_protocol_fee=1000,
    emode_category=1,
)
WSTETH_CONFIG = ReserveConfig(
    ltv=7850,
    liquidation_threshold=8100,
    liquidation_bonus=10600,
    decimals=18,
    reserve_factor=1500,
    liquidation_protocol_fee=1000,
    emode_category=1,
)
USDC_CONFIG = ReserveConfig(
    ltv=7700,
    liquidation_threshold=8000,
    liquidation_bonus=10450,
    decimals=6,
    reserve_factor=1000,
    liquidation_protocol_fee=1000,
)
STRATEGY = RateStrategy(
    optimal_usage_ratio=RAY * 90 // 100,
    base_variable_borrow_rate=0,
    variable_rate_slope1=RAY * 4 // 100,
    variable_rate_slope2=RAY * 60 // 100,
    stable_rate_slope1=RAY * 5 // 1000,
    stable_rate_slope2=RAY * 60 // 100,
    base_stable_rate_offset=RAY // 100,
    stable_rate_excess_offset=RAY * 8 // 100,
    optimal_stable_to_total_debt_ratio=RAY * 20 // 100,
)
ETH_EMODE = EModeCategory(
    9000,
    9300,
    10100,
    "ETH correlated",
    collateral_assets=frozenset({WETH, WSTETH}),
    borrowable_assets=frozenset({WETH, WSTETH}),
)


def make_pool(version: str = "3.0") -> AavePool:
    pool = AavePool(POOL, PoolVersion.parse(version), TREASURY)
    for i, (asset, config) in enumerate(
        ((WETH, WETH_CONFIG), (USDC, USDC_CONFIG), (WSTETH, WSTETH_CONFIG))
    ):
        pool.init_reserve(
            asset, config, STRATEGY, f"0x{i + 1:02x}" + "aa" * 19, f"0x{i + 1:02x}" + "dd" * 19, T0
        )
    pool.set_emode_category(1, ETH_EMODE)
    pool.set_price(WETH, 2000 * 10**8)
    pool.set_price(USDC, 10**8)
    pool.set_price(WSTETH, 2300 * 10**8)
    return pool


def worked_example(version: str = "3.0") -> AavePool:
    """Spec §4/§5.2: Alice holds 10 WETH and owes 16,000 USDC; WETH then falls to 1,900 USD."""
    pool = make_pool(version)
    pool.supply(USDC, 100_000 * 10**6, CAROL, T0)
    pool.supply(WETH, 10 * 10**18, ALICE, T0)
    pool.borrow(USDC, 16_000 * 10**6, ALICE, T0)
    pool.set_price(WETH, 1900 * 10**8)
    return pool
