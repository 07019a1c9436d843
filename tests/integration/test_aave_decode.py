"""Aave V3 decoding: topic0s as the spec lists them, a lossless round trip of everything AavePool
and the configurator emit (a string field included), token/reserve registry, quarantine."""

from __future__ import annotations

from typing import Any

import polars as pl
from eth_utils.crypto import keccak

from softliq_core.aave_reserves import aave_reserves, aave_tokens
from softliq_core.abi import AAVE_KINDS, encode_log, event_specs, spec_of
from softliq_core.decode import decode_logs
from softliq_core.protocols.aave.pool import MAX_UINT
from softliq_core.tables import BLOCKS, RAW_LOGS
from tests.aave_fixtures import ALICE, LIQUIDATOR, T0, USDC, WETH, worked_example

# topic0s from spec aave_chainlink.md §2 (computed there from the canonical signatures).
SPEC_TOPIC0 = {
    "Supply": "2b627736bca15cd5381dcf80b0bf11fd197d01a037c52b927a881a10fb73ba61",
    "Withdraw": "3115d1449a7b732c986cba18244e897a450f61e1bb8d589cd2e69e6c8924f9f7",
    "Borrow": "b3d084820fb1a9decffb176436bd02558d15fac9b0ddfed8c465bc7359d7dce0",
    "Repay": "a534c8dbe71f871f9f3530e97a74601fea17b426cae02e1c5aee42c96c784051",
    "LiquidationCall": "e413a321e8681d831f4dbccbca790d2952b56f977908e45be37335533e005286",
    "ReserveDataUpdated": "804c9b842b2748a22bb64b345453a3de7ca54a6ca45ce00d415894979e22897a",
    "ReserveUsedAsCollateralEnabled": "00058a56ea94653cdf4f152d227ace22d4c00ad99e2a43f58cb7d9e3feb295f2",
    "ReserveUsedAsCollateralDisabled": "44c58d81365b66dd4b1a7f36c25aa97b8c71c361ee4937adc1a00000227db5dd",
    "FlashLoan": "efefaba5e921573100900a3ad9cf29f222d995fb3b6045797eaea7521bd8d6f0",
    "UserEModeSet": "d728da875fc88944cbf17638bcbe4af0eedaef63becd1d1c57cc097eb4608d84",
    "MintedToTreasury": "bfa21aa5d5f9a1f0120a95e7c0749f389863cbdbfff531aa7339077a5bc919de",
    "IsolationModeTotalDebtUpdated": "aef84d3b40895fd58c561f3998000f0583abb992a52fbdc99ace8e8de4d676a5",
    "DeficitCreated": "2bccfb3fad376d59d7accf970515eb77b2f27b082c90ed0fb15583dd5a942699",
    "DeficitCovered": "84b203e49f1a4b553088061534231969a68ad1c81be192205e96d23a206cb26a",
    "Mint": "458f5fa412d0f69b08dd84872b0215675cc67bc1d5b6fd93300a1c3878b86196",
    "Burn": "4cf25bc1d991c17529c25213d3cc0cda295eeaad5f13f361969b12ea48015f90",
    "BalanceTransfer": "4beccb90f994c31aced7a23b5611020728a23d8ec5cddd1a3e9d97b96fda8666",
    "Transfer": "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    "CollateralConfigurationChanged": "637febbda9275aea2e85c0ff690444c8d87eb2e8339bbede9715abcc89cb0995",
    "LiquidationProtocolFeeChanged": "b5b0a963825337808b6e3154de8e98027595a5cad4219bb3a9bc55b192f4b391",
    "ReserveFactorChanged": "b46e2b82b0c2cf3d7d9dece53635e165c53e0eaa7a44f904d61a2b7174826aef",
    "EModeCategoryAdded": "0acf8b4a3cace10779798a89a206a0ae73a71b63acdd3be2801d39c2ef7ab3cb",
    "EModeAssetCategoryChanged": "5bb69795b6a2ea222d73a5f8939c23471a1f85a99c7ca43c207f1b71f10c6264",
    "AssetCollateralInEModeChanged": "79409190108b26fcb0e4570f8e240f627bf18fd01a55f751010224d5bd486098",
    "AssetBorrowableInEModeChanged": "60087ca045be9d8d1301445e67d6248eddba97629c80284fa4910c0e52f103ab",
    "ReserveFrozen": "0c4443d258a350d27dc50c378b2ebf165e6469725f786d21b30cab16823f5587",
    "ReservePaused": "e188d542a5f11925d3a3af33703cdd30a43cb3e8066a3cf68b1b57f61a5a94b5",
    "ReserveActive": "c36c7d11ba01a5869d52aa4a3781939dab851cbc9ee6e7fdcedc7d58898a3f1e",
    "AssetSourceUpdated": "22c5b7b2d8561d39f7f210b6b326a1aa69f15311163082308ac4877db6339dc1",
    "FallbackOracleUpdated": "ce7a780d33665b1ea097af5f155e3821b809ecbaa839d3b33aa83ba28168cefb",
    "BaseCurrencySet": "e27c4c1372396a3d15a9922f74f9dfc7c72b1ad6d63868470787249c356454c1",
    "CapParametersUpdated": "47f15f366dcc3684fc77c4f79eb851bb5befbc095ec7a296a53a27a622964c63",
    "PriceCapUpdated": "a89f50d1caf6c404765ce94b422be388ce69c8ed68921620fa6a83c810000615",
}
CONFIGURATOR = "0x" + "64" * 20
ORACLE = "0x" + "54" * 20


def test_aave_topic0s_match_the_spec() -> None:
    # ReserveInitialized and ReserveBorrowing are not in the spec's table; their topic0s are
    # checked against keccak of the signatures (IPoolConfigurator.sol) here.
    names = {spec.name: spec.topic0.hex() for kind in AAVE_KINDS for spec in event_specs(kind)}
    for name, signature in (
        (
            "ReserveInitialized",
            "ReserveInitialized(address,address,address,address,address)",
        ),
        ("ReserveBorrowing", "ReserveBorrowing(address,bool)"),
    ):
        assert spec_of("aave_pool_configurator", name).signature == signature
        assert names.pop(name) == keccak(text=signature).hex()
    assert names == SPEC_TOPIC0


def _raw(events: list[dict[str, Any]], mangle: dict[int, bytes] | None = None) -> pl.DataFrame:
    rows = []
    for i, event in enumerate(events):
        topics, data = encode_log(event["event"], event, event["kind"])
        data = (mangle or {}).get(i, data)
        topics = topics + [None] * (4 - len(topics))  # type: ignore[list-item]
        rows.append(
            (
                1,
                b"\x01" * 32,
                0,
                i,
                b"\x02" * 32,
                bytes.fromhex(event["contract"][2:]),
                *topics,
                data,
                len(data),
                1,
            )
        )
    return pl.DataFrame(rows, schema=pl.Schema(RAW_LOGS), orient="row")


def _blocks() -> pl.DataFrame:
    return pl.DataFrame(
        [(1, b"\x01" * 32, b"\x00" * 32, T0, 10**9, 1)], schema=pl.Schema(BLOCKS), orient="row"
    )


def _configuration(pool: Any) -> list[dict[str, Any]]:
    def conf(event: str, **fields: Any) -> dict[str, Any]:
        return {
            "event": event,
            "contract": CONFIGURATOR,
            "kind": "aave_pool_configurator",
            **fields,
        }

    events = [
        conf(
            "ReserveInitialized",
            asset=r.asset,
            a_token=r.a_token.address,
            stable_debt_token="0x" + "00" * 20,
            variable_debt_token=r.v_token.address,
            interest_rate_strategy_address="0x" + "99" * 20,
        )
        for r in sorted(pool.reserves.values(), key=lambda r: r.id)
    ]
    events += [
        conf(
            "CollateralConfigurationChanged",
            asset=WETH,
            ltv=8050,
            liquidation_threshold=8300,
            liquidation_bonus=10500,
        ),
        conf("EModeCategoryAdded", category_id=1, ltv=9000, liquidation_threshold=9300,
             liquidation_bonus=10100, oracle="0x" + "00" * 20, label="ETH correlated"),
        conf("AssetCollateralInEModeChanged", asset=WETH, category_id=1, collateral=True),
        {"event": "AssetSourceUpdated", "contract": ORACLE, "kind": "aave_oracle",
         "asset": WETH, "source": "0x" + "5f" * 20},
    ]  # fmt: skip
    return events


def test_pool_and_configurator_events_round_trip() -> None:
    pool = worked_example("3.0")
    pool.liquidation_call(WETH, USDC, ALICE, MAX_UINT, False, LIQUIDATOR, T0)
    events = _configuration(pool) + pool.events
    decoded = decode_logs(_raw(events), _blocks())
    assert decoded.quarantine.is_empty()
    assert decoded.morpho_events.is_empty()
    table = decoded.aave_events
    assert table.height == len(events)
    for event, row in zip(events, table.iter_rows(named=True), strict=True):
        assert row["event"] == event["event"]
        assert row["contract"] == event["contract"]
        types = {f.column: f.abi_type for f in spec_of(event["kind"], event["event"]).fields}
        for column, abi_type in types.items():
            value = event[column]
            # uint256 as exact decimal strings; small uints as integers (DuckDB-friendly).
            expected = str(value) if abi_type == "uint256" else value
            assert row[column] == expected, (event["event"], column)
    assert table.filter(pl.col("event") == "EModeCategoryAdded")["label"].to_list() == [
        "ETH correlated"
    ]
    reserves = aave_reserves(table)
    assert reserves["asset"].to_list() == [
        r.asset for r in sorted(pool.reserves.values(), key=lambda r: r.id)
    ]
    tokens = aave_tokens(reserves)
    assert tokens[pool.reserves[USDC].v_token.address] == (USDC, True)
    assert tokens[pool.reserves[WETH].a_token.address] == (WETH, False)


def test_dirty_aave_logs_are_quarantined_with_the_reason() -> None:
    pool = worked_example("3.0")
    events = _configuration(pool)
    emode = next(i for i, e in enumerate(events) if e["event"] == "EModeCategoryAdded")
    membership = next(
        i for i, e in enumerate(events) if e["event"] == "AssetCollateralInEModeChanged"
    )
    _, good = encode_log("EModeCategoryAdded", events[emode], "aave_pool_configurator")
    _, flags = encode_log(
        "AssetCollateralInEModeChanged", events[membership], "aave_pool_configurator"
    )
    truncated = good[: len(good) - 32]  # the label's bytes cut off
    dirty_uint8 = b"\x01" + flags[1:]  # a uint8 word with high bits set
    decoded = decode_logs(_raw(events, {emode: truncated, membership: dirty_uint8}), _blocks())
    reasons = sorted(decoded.quarantine["reason"].to_list())
    assert reasons == [
        "AssetCollateralInEModeChanged: a word is not a clean ABI encoding",
        "EModeCategoryAdded: a word is not a clean ABI encoding",
    ]
    assert decoded.aave_events.height == len(events) - 2
