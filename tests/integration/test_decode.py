"""Decoding: topic0s from the ABI, lossless round trip of the synthetic chain, quarantine."""

from __future__ import annotations

import json
from importlib import resources

import polars as pl
import pytest
from eth_abi import decode as abi_decode
from web3 import Web3

from softliq_core.abi import CONTRACT_KINDS, event_specs, specs_by_name
from softliq_core.decode import decode_logs
from softliq_core.sources.synthetic import SyntheticChain

# topic0s as spec/morpho.md lists them (computed there independently of this code).
SPEC_TOPIC0 = {
    "CreateMarket": "ac4b2400f169220b0c0afdde7a0b32e775ba727ea1cb30b35f935cdaab8683ac",
    "Supply": "edf8870433c83823eb071d3df1caa8d008f12f6440918c20d75a3602cda30fe0",
    "Withdraw": "a56fc0ad5702ec05ce63666221f796fb62437c32db1aa1aa075fc6484cf58fbf",
    "Borrow": "570954540bed6b1304a87dfe815a5eda4a648f7097a16240dcd85c9b5fd42a43",
    "Repay": "52acb05cebbd3cd39715469f22afbf5a17496295ef3bc9bb5944056c63ccaa09",
    "SupplyCollateral": "a3b9472a1399e17e123f3c2e6586c23e504184d504de59cdaa2b375e880c6184",
    "WithdrawCollateral": "e80ebd7cc9223d7382aab2e0d1d6155c65651f83d53c8b9b06901d167e321142",
    "Liquidate": "a4946ede45d0c6f06a0f5ce92c9ad3b4751452d2fe0e25010783bcab57a67e41",
    "AccrueInterest": "9d9bd501d0657d7dfe415f779a620a62b78bc508ddc0891fbbd8b7ac0f8fce87",
    "FlashLoan": "c76f1b4fe4396ac07a9fa55a415d4ca430e72651d37d3401f3bed7cb13fc4f12",
    "SetFee": "139d6f58e9a127229667c8e3b36e88890a66cfc8ab1024ddc513e189e125b75b",
    "SetOwner": "167d3e9c1016ab80e58802ca9da10ce5c6a0f4debc46a2e7a2cd9e56899a4fb5",
    "EnableIrm": "590e04cdebeccba40f566186b9746ad295a4cd358ea4fefaaea6ce79630d96c0",
    "EnableLltv": "297b80e7a896fad470c630f6575072d609bde997260ff3db851939405ec29139",
    "SetAuthorization": "d5e969f01efe921d3f766bdebad25f0a05e3f237311f56482bf132d0326309c0",
    "IncrementNonce": "a58af1a0c70dba0c7aa60d1a1a147ebd61000d1690a968828ac718bca927f2c7",
    "SetFeeRecipient": "2e979f80fe4d43055c584cf4a8467c55875ea36728fc37176c05acd784eb7a73",
    "BorrowRateUpdate": "7120161a7b3d31251e01294ab351ef15a41b91659a36032e4641bb89b121e321",
    "AnswerUpdated": "0559884fd3a460db3073b7fc896cc77986f16e378210ded43186175bf646fc5f",
    "PreLiquidate": "d5b01f148b35d6069b626af105bf8881bc2e30ee1ce3de4630903abab0ba8580",
    "CreatePreLiquidation": "c36ddf254f2ae7c3a2c82dc525fed9a804cdaf8102b19b3caa5aeda5afcca382",
}


def test_topic0s_match_the_spec_and_web3s_abi_codec() -> None:
    specs = specs_by_name()
    assert set(specs) == set(SPEC_TOPIC0)
    w3 = Web3()
    for kind in CONTRACT_KINDS:
        abi = json.loads(resources.files("softliq_core.abi").joinpath(f"{kind}.json").read_text())
        contract = w3.eth.contract(abi=abi)
        for spec in event_specs(kind):
            web3_topic = contract.events[spec.name]().topic  # web3 computes it from the ABI
            assert spec.topic0.hex() == SPEC_TOPIC0[spec.name]
            assert bytes.fromhex(str(web3_topic).removeprefix("0x")) == spec.topic0


def test_every_synthetic_log_decodes_to_the_event_the_contract_emitted(
    chain: SyntheticChain, decoded
) -> None:  # type: ignore[no-untyped-def]
    assert decoded.quarantine.is_empty()
    assert (
        decoded.morpho_events.height + decoded.aave_events.height + decoded.oracle_rounds.height
        == chain.raw_logs.height
    )
    emitted = chain.morpho.events  # MorphoBlue's own event dicts, in emission order
    rows = decoded.morpho_events.to_dicts()
    assert len(rows) == len(emitted)
    for row, event in zip(rows, emitted, strict=True):
        assert row["event"] == event["event"]
        for column, value in event.items():
            if column in ("event", "contract"):
                continue
            expected = value if isinstance(value, str | bool) else str(value)
            assert row[column] == expected, (event["event"], column)


def test_decoded_amounts_equal_eth_abi_decoding(chain: SyntheticChain, decoded) -> None:  # type: ignore[no-untyped-def]
    """The vectorised decoder agrees with eth_abi on every Liquidate's data words."""
    spec = specs_by_name()["Liquidate"]
    raw = chain.raw_logs.filter(pl.col("topic0") == spec.topic0).sort("block_number", "log_index")
    ours = decoded.morpho_events.filter(pl.col("event") == "Liquidate")
    assert raw.height == ours.height > 0
    for data, row in zip(raw["data"], ours.iter_rows(named=True), strict=True):
        values = abi_decode([f.abi_type for f in spec.data_fields], data)
        assert [str(v) for v in values] == [row[f.column] for f in spec.data_fields]


def _tamper(logs: pl.DataFrame, index: int, **changes: object) -> pl.DataFrame:
    row = logs.row(index, named=True)
    row.update(changes)
    return pl.concat(
        [logs.slice(0, index), pl.DataFrame([row], schema=logs.schema), logs.slice(index + 1)]
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"topic0": b"\x12" * 32}, "unknown topic0"),
        ({"data": b"\x00" * 31, "n_data_bytes": 31}, "expected"),
        ({"topic3": None}, "expected"),
    ],
)
def test_malformed_logs_are_quarantined_not_dropped(
    chain: SyntheticChain, change: dict, reason: str
) -> None:  # type: ignore[type-arg]
    logs = chain.raw_logs
    supply = specs_by_name()["Supply"].topic0
    index = logs["topic0"].to_list().index(supply)
    bad = _tamper(logs, index, **change)
    out = decode_logs(bad, chain.blocks, chain.feeds_table())
    assert out.quarantine.height == 1
    assert reason in out.quarantine["reason"][0]
    assert json.loads(out.quarantine["raw"][0])["log_index"] == logs["log_index"][index]
    assert (
        out.morpho_events.height + out.aave_events.height + out.oracle_rounds.height + 1
        == logs.height
    )


def test_dirty_address_padding_is_quarantined(chain: SyntheticChain) -> None:
    logs = chain.raw_logs
    supply = specs_by_name()["Supply"].topic0
    index = logs["topic0"].to_list().index(supply)
    topic2 = logs["topic2"][index]
    out = decode_logs(
        _tamper(logs, index, topic2=b"\x01" + topic2[1:]), chain.blocks, chain.feeds_table()
    )
    assert out.quarantine["reason"].to_list() == ["Supply: a word is not a clean ABI encoding"]


def test_log_without_its_block_is_quarantined(chain: SyntheticChain) -> None:
    blocks = chain.blocks.filter(pl.col("block_number") != chain.raw_logs["block_number"][-1])
    out = decode_logs(chain.raw_logs, blocks, chain.feeds_table())
    assert set(out.quarantine["reason"]) == {"block not in blocks"}
    assert (
        out.quarantine.height
        == chain.raw_logs.filter(
            pl.col("block_number") == chain.raw_logs["block_number"][-1]
        ).height
    )


def test_uint256_beyond_128_bits_stays_exact() -> None:
    from softliq_core.decode.words import int256, uint256

    values = [0, 1, 2**128 - 1, 2**128, 2**255 + 12345, 2**256 - 1]
    words = pl.Series([v.to_bytes(32, "big") for v in values], dtype=pl.Binary)
    assert uint256(words)[0].to_list() == [str(v) for v in values]
    signed = [0, -1, 2**127 - 1, -(2**127), 2**200, -(2**200)]
    words = pl.Series([v.to_bytes(32, "big", signed=True) for v in signed], dtype=pl.Binary)
    assert int256(words)[0].to_list() == [str(v) for v in signed]


def test_answer_updated_of_an_aggregator_no_feed_names_is_quarantined(
    chain: SyntheticChain,
) -> None:
    feeds = chain.feeds_table()
    dropped = feeds.filter(pl.col("phase_id") == 2)["aggregator"][0]
    out = decode_logs(chain.raw_logs, chain.blocks, feeds.filter(pl.col("phase_id") == 1))
    emitted = chain.raw_logs.filter(pl.col("address") == bytes.fromhex(dropped[2:])).height
    assert emitted > 0
    assert out.quarantine.height == emitted
    assert set(out.quarantine["reason"]) == {
        "AnswerUpdated from an aggregator that no feed's phase names"
    }
    assert set(out.quarantine["address"]) == {dropped}
    assert dropped not in set(out.oracle_rounds["aggregator"])
