"""How the RPC client reads providers' error messages, and what it shows of an endpoint URL."""

from __future__ import annotations

import logging

import pytest

from softliq_core.sources.rpc.errors import (
    Redactor,
    RpcBatchTooLargeError,
    RpcError,
    RpcRangeError,
    RpcTransientError,
    classify_rpc_error,
    redacted_url,
)


@pytest.mark.parametrize(
    ("error", "kind", "suggested", "max_blocks"),
    [
        pytest.param(
            {"code": -32602, "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters, this block range should work: [0x11c37a0, 0x11c3f6f]"},
            "results", (0x11C37A0, 0x11C3F6F), None, id="alchemy-results",
        ),
        pytest.param(
            {"code": -32600, "message": "Under the Free tier plan, you can make eth_getLogs requests with up to a 10 block range. Based on your parameters, this block range should work: [0x1, 0xa]"},
            "blocks", (1, 10), 10, id="alchemy-free-tier",
        ),
        pytest.param(
            {"code": -32005, "message": "query returned more than 10000 results. Try with this block range [0x30D4A40, 0x30D4B44].", "data": {"from": "0x30D4A40", "to": "0x30D4B44"}},
            "results", (0x30D4A40, 0x30D4B44), None, id="infura",
        ),
        pytest.param(
            {"code": -32614, "message": "eth_getLogs is limited to a 10,000 range"},
            "blocks", None, 10_000, id="quicknode",
        ),
        pytest.param(
            {"code": -32602, "message": "query exceeds max results 20000, retry with the range 100-199"},
            "results", (100, 199), None, id="reth-results",
        ),
        pytest.param({"code": -32000, "message": "block range is too wide"}, "blocks", None, None, id="ankr"),
        pytest.param(
            {"code": -32000, "message": "exceed maximum block range: 50000"}, "blocks", None, 50_000, id="max-range",
        ),
    ],
)  # fmt: skip
def test_range_refusals_are_recognised_with_their_hints(
    error: dict[str, object], kind: str, suggested: tuple[int, int] | None, max_blocks: int | None
) -> None:
    classified = classify_rpc_error(error, "eth_getLogs")
    assert isinstance(classified, RpcRangeError)
    assert (classified.kind, classified.suggested, classified.max_blocks) == (
        kind,
        suggested,
        max_blocks,
    )


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": 429, "message": "Your app has exceeded its compute units per second capacity."}, RpcTransientError),
        ({"code": -32005, "message": "daily request count exceeded, request rate limited"}, RpcTransientError),
        ({"code": -32000, "message": "header not found"}, RpcTransientError),
        ({"code": -32603, "message": "internal error"}, RpcTransientError),
        ({"code": 3, "message": "execution reverted"}, RpcError),
        ({"code": -32601, "message": "the method foo does not exist/is not available"}, RpcError),
    ],
)  # fmt: skip
def test_transient_and_fatal_errors(error: dict[str, object], expected: type[RpcError]) -> None:
    assert type(classify_rpc_error(error, "eth_call")) is expected


def test_batch_size_refusal() -> None:
    error = {"code": -32600, "message": "batch size exceeds the maximum of 100"}
    assert isinstance(classify_rpc_error(error, "batch"), RpcBatchTooLargeError)


def test_a_range_message_outside_get_logs_is_not_a_range_refusal() -> None:
    error = {"code": -32000, "message": "block range is too wide"}
    assert type(classify_rpc_error(error, "eth_call")) is RpcError


@pytest.mark.parametrize(
    "url",
    [
        "https://eth-mainnet.g.alchemy.com/v2/AbCdEf0123456789xyz",
        "https://mainnet.infura.io/v3/0123456789abcdef0123456789abcdef",
        "https://user:s3cretpass@node.example.com:8545/",
        "https://rpc.example.com/?apikey=K3Y-12345678",
    ],
)
def test_redaction_hides_every_secret_part(url: str, caplog: pytest.LogCaptureFixture) -> None:
    redact = Redactor(url)
    shown = redacted_url(url)
    assert shown.endswith("/<redacted>") and "://" in shown
    text = f"HTTPSConnectionPool: Max retries exceeded with url: {url.split('/', 3)[-1]} ({url})"
    clean = redact(text)
    for secret in (
        "AbCdEf0123456789xyz",
        "0123456789abcdef0123456789abcdef",
        "s3cretpass",
        "K3Y-12345678",
    ):
        assert secret not in clean
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug('%s "POST %s HTTP/1.1" 200', url, url)
    assert all(s not in caplog.text for s in ("AbCdEf0123456789xyz", "s3cretpass", "K3Y-12345678"))
