"""The RPC source: a ChainSource over an archive node's JSON-RPC (DESIGN §3, raw layer).

* ``logs``: ``eth_getLogs`` for the configured contracts and topic0s, in block ranges that start at
  ``log_chunk_blocks`` and shrink when the provider refuses (to the range it suggests, to the limit
  its message states, or by half), growing back after successes when the refusal was about the
  number of results. A range is only ever requested again after a failure, so no log is lost or
  duplicated; results are checked (inside the range, watched contract, unique key) before use.
* ``blocks``: batched ``eth_getBlockByNumber`` (headers only); each block's number is checked and
  its parent hash must be the previous block's hash, and its hash the one the logs carried.
* ``day_block_range``: the first block at or after midnight UTC, found by interpolation steps and
  bisection on block timestamps (every fetched timestamp is cached, so consecutive days cost a few
  calls); a day whose end is not ``confirmations`` blocks below the head is refused.
* ``tokens`` / ``oracles``: ``symbol()``/``decimals()`` and the Morpho oracles' immutables (V2 or
  V1, ``rpc/oracles.py``) via ``eth_call``, for the tokens and oracles named by Morpho's
  ``CreateMarket`` logs; ``rate_at``: their event-less inputs by archive ``eth_call``.
* ``feeds``: the Chainlink proxies those oracles name, and their phases (``rpc/feeds.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from softliq_core.abi import specs_by_name
from softliq_core.markets import TOKENS_SCHEMA
from softliq_core.sources.base import DayNotFinalError
from softliq_core.sources.rpc.client import RpcClient
from softliq_core.sources.rpc.config import RpcConfig
from softliq_core.sources.rpc.errors import RpcError, RpcRangeError
from softliq_core.sources.rpc.feeds import discover_feeds
from softliq_core.sources.rpc.oracles import read_oracles, read_rates
from softliq_core.tables import BLOCKS, RAW_LOGS

log = logging.getLogger("softliq_core.sources.rpc")


def selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def _bytes(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value[2:])


def _day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class RpcSource:
    """A ``ChainSource`` over JSON-RPC. ``stats`` counts logs, blocks, range splits and requests."""

    def __init__(self, config: RpcConfig, client: RpcClient | None = None) -> None:
        self.config = config
        self.chain_id = config.chain_id
        self.client = client or RpcClient(config.resolved_url(), config.client)
        self._addresses = list(config.addresses)
        self._address_set = set(config.addresses)
        self._topic0s = list(config.resolved_topic0s())
        self._timestamps: dict[int, int] = {}
        self._boundaries: dict[int, int | None] = {}
        self._log_block_hashes: dict[int, bytes] = {}
        self._chunk = config.log_chunk_blocks
        self._ceiling = config.log_chunk_blocks
        self._chain_checked = False
        self._markets: list[tuple[str, str, str]] | None = None  # loan, collateral, oracle

    def __repr__(self) -> str:
        return f"RpcSource(chain_id={self.chain_id}, endpoint={self.client.endpoint})"

    # -- chain and head ---------------------------------------------------------------------------

    def _check_chain(self) -> None:
        if self._chain_checked:
            return
        served = int(self.client.call("eth_chainId", []), 16)
        if served != self.chain_id:
            raise RpcError(
                f"the endpoint serves chain {served}, the source is configured for {self.chain_id}"
            )
        self._chain_checked = True

    def safe_head(self) -> int:
        """The newest block a reorg should not replace: the node's ``finalized`` block when so
        configured, else the head minus ``confirmations``."""
        self._check_chain()
        if self.config.finalized:
            header = self.client.call("eth_getBlockByNumber", ["finalized", False])
            if not isinstance(header, dict):
                raise RpcError("the node has no finalized block (eth_getBlockByNumber 'finalized')")
            return int(header["number"], 16)
        return int(self.client.call("eth_blockNumber", []), 16) - self.config.confirmations

    def _finality(self) -> str:
        if self.config.finalized:
            return "the node's finalized block"
        return f"head minus {self.config.confirmations} confirmations"

    # -- day boundaries ---------------------------------------------------------------------------

    def _fetch_headers(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        wanted = list(numbers)

        def valid(i: int, result: Any) -> bool:
            return isinstance(result, dict) and int(result.get("number") or "0x0", 16) == wanted[i]

        headers = self.client.batch(
            [("eth_getBlockByNumber", [hex(n), False]) for n in wanted], valid=valid
        )
        for header in headers:
            self._timestamps[int(header["number"], 16)] = int(header["timestamp"], 16)
        return headers

    def _timestamp(self, numbers: Sequence[int]) -> list[int]:
        missing = sorted({n for n in numbers if n not in self._timestamps})
        if missing:
            self._fetch_headers(missing)
        return [self._timestamps[n] for n in numbers]

    def first_block_at(self, timestamp: int, head: int) -> int | None:
        """The first block in ``[min_block, head]`` with a timestamp >= ``timestamp``; None when
        even ``head`` is older."""
        if timestamp in self._boundaries and self._boundaries[timestamp] is not None:
            return self._boundaries[timestamp]
        lo, hi = self.config.min_block, head
        ts_lo, ts_hi = self._timestamp([lo, hi])
        if ts_hi < timestamp:
            return None
        if ts_lo >= timestamp:
            self._boundaries[timestamp] = lo
            return lo
        # Known timestamps narrow the bracket: ts(lo) < timestamp <= ts(hi).
        for n, ts in self._timestamps.items():
            if lo < n < hi:
                if ts < timestamp:
                    lo, ts_lo = n, ts
                elif n < hi:
                    hi, ts_hi = n, ts
        step = 0
        while hi - lo > 1:
            if step % 2 == 0:  # interpolate on time, then probe the guess and its predecessor
                guess = lo + (timestamp - ts_lo) * (hi - lo) // max(1, ts_hi - ts_lo)
            else:  # bisect, so a bad guess costs at most a factor two
                guess = (lo + hi) // 2
            guess = min(max(guess, lo + 1), hi - 1)
            probes = sorted({max(lo + 1, guess - 1), guess})
            for n, ts in zip(probes, self._timestamp(probes), strict=True):
                if ts < timestamp:
                    if n > lo:
                        lo, ts_lo = n, ts
                elif n < hi:
                    hi, ts_hi = n, ts
            step += 1
        self._boundaries[timestamp] = hi
        return hi

    def day_block_range(self, day: date) -> tuple[int, int] | None:
        start = _day_start(day)
        head = self.safe_head()
        after = self.first_block_at(start + 86_400, head)
        if after is None:
            raise DayNotFinalError(
                f"{day} is not final: no block of the next day at or below block {head} "
                f"({self._finality()})"
            )
        first = self.first_block_at(start, head)
        if first is None or first >= after:
            return None
        return first, after - 1

    # -- logs -------------------------------------------------------------------------------------

    def _get_logs(
        self,
        first: int,
        last: int,
        addresses: list[str],
        topic0s: list[str],
        chunk: Callable[[], int],
        refused: Callable[[RpcRangeError, int], int],
        succeeded: Callable[[], None],
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = first
        while cursor <= last:
            end = min(last, cursor + chunk() - 1)
            params: dict[str, Any] = {
                "fromBlock": hex(cursor),
                "toBlock": hex(end),
                "address": addresses,
            }
            if topic0s:
                params["topics"] = [topic0s]
            try:
                result = self.client.call("eth_getLogs", [params])
            except RpcRangeError as error:
                self.client.stats["range_refused"] += 1
                if end == cursor:
                    raise RpcError(
                        f"the provider refuses eth_getLogs even for block {cursor}: {error}"
                    ) from None
                size = refused(error, end - cursor + 1)
                log.debug(
                    "eth_getLogs %d..%d refused (%s); next range %d blocks",
                    cursor,
                    end,
                    error.kind,
                    size,
                )
                continue
            if not isinstance(result, list):
                raise RpcError(f"eth_getLogs {cursor}..{end}: the result is not a list")
            for item in result:
                number = int(item["blockNumber"], 16)
                if not cursor <= number <= end:
                    raise RpcError(f"eth_getLogs {cursor}..{end} returned a log of block {number}")
                if item.get("removed"):
                    continue
                found.append(item)
            succeeded()
            cursor = end + 1
        return found

    def _refused(self, error: RpcRangeError, requested: int) -> int:
        """The next range size after a refusal of ``requested`` blocks."""
        size = requested // 2
        if error.suggested is not None:
            lo, hi = error.suggested
            if hi >= lo:
                size = min(requested - 1, hi - lo + 1)
        if error.kind == "blocks":
            limit = error.max_blocks if error.max_blocks else requested - 1
            self._ceiling = max(1, min(self._ceiling, limit, requested - 1))
            size = min(size, self._ceiling)
        self._chunk = max(1, size)
        return self._chunk

    def _grow(self) -> None:
        self._chunk = min(self._ceiling, self._chunk * 2)

    def logs(self, first_block: int, last_block: int) -> pl.DataFrame:
        self._check_chain()
        started = time.monotonic()
        items = self._get_logs(
            first_block,
            last_block,
            self._addresses,
            self._topic0s,
            lambda: self._chunk,
            self._refused,
            self._grow,
        )
        rows = []
        for item in items:
            address = item["address"].lower()
            if address not in self._address_set:
                raise RpcError(f"eth_getLogs returned a log of unwatched contract {address}")
            topics = [*item.get("topics", []), None, None, None, None][:4]
            if self._topic0s and topics[0] is not None and topics[0].lower() not in self._topic0s:
                raise RpcError(f"eth_getLogs returned a log with unrequested topic0 {topics[0]}")
            data = _bytes(item.get("data") or "0x") or b""
            number = int(item["blockNumber"], 16)
            block_hash = _bytes(item["blockHash"])
            assert block_hash is not None
            seen = self._log_block_hashes.setdefault(number, block_hash)
            if seen != block_hash:
                raise RpcError(f"logs of block {number} carry two block hashes: reorg under way")
            rows.append(
                (
                    number,
                    block_hash,
                    int(item["transactionIndex"], 16),
                    int(item["logIndex"], 16),
                    _bytes(item["transactionHash"]),
                    bytes.fromhex(address[2:]),
                    *(_bytes(t) for t in topics),
                    data,
                    len(data),
                    self.chain_id,
                )
            )
        frame = pl.DataFrame(rows, schema=pl.Schema(RAW_LOGS), orient="row").sort(
            "block_number", "log_index"
        )
        if frame.select(pl.struct("block_number", "log_index").is_duplicated().any()).item():
            raise RpcError(f"eth_getLogs {first_block}..{last_block} returned a log twice")
        elapsed = time.monotonic() - started
        self.client.stats["logs"] += frame.height
        log.info(
            "logs %d..%d: %d logs in %.1f s (%.0f blocks/s)",
            first_block, last_block, frame.height, elapsed,
            (last_block - first_block + 1) / max(elapsed, 1e-9),
        )  # fmt: skip
        return frame

    # -- blocks -----------------------------------------------------------------------------------

    def blocks(self, first_block: int, last_block: int) -> pl.DataFrame:
        self._check_chain()
        started = time.monotonic()
        headers = self._fetch_headers(range(first_block, last_block + 1))
        rows = []
        previous: bytes | None = None
        for header in headers:
            number = int(header["number"], 16)
            block_hash = _bytes(header["hash"])
            parent = _bytes(header["parentHash"])
            if previous is not None and parent != previous:
                raise RpcError(
                    f"block {number}'s parent is not block {number - 1}: reorg under way"
                )
            if number in self._log_block_hashes and self._log_block_hashes[number] != block_hash:
                raise RpcError(
                    f"block {number}'s hash differs from its logs' block hash: reorg under way"
                )
            previous = block_hash
            base_fee = header.get("baseFeePerGas")
            rows.append(
                (
                    number,
                    block_hash,
                    parent,
                    int(header["timestamp"], 16),
                    int(base_fee, 16) if base_fee is not None else None,
                    self.chain_id,
                )
            )
        for number in range(first_block, last_block + 1):
            self._log_block_hashes.pop(number, None)
        elapsed = time.monotonic() - started
        self.client.stats["blocks"] += len(rows)
        log.info(
            "blocks %d..%d in %.1f s (%.0f blocks/s)",
            first_block, last_block, elapsed, len(rows) / max(elapsed, 1e-9),
        )  # fmt: skip
        return pl.DataFrame(rows, schema=pl.Schema(BLOCKS), orient="row")

    # -- reference: tokens and oracles ------------------------------------------------------------

    def markets(self) -> list[tuple[str, str, str]]:
        """(loan token, collateral token, oracle) of every CreateMarket up to the safe head."""
        if self._markets is None:
            spec = specs_by_name()["CreateMarket"]
            head = self.safe_head()
            state = {"chunk": self.config.discovery_chunk_blocks}

            def refused(error: RpcRangeError, requested: int) -> int:
                size = requested // 2
                if error.suggested is not None and error.suggested[1] >= error.suggested[0]:
                    size = min(requested - 1, error.suggested[1] - error.suggested[0] + 1)
                if error.max_blocks:
                    size = min(size, error.max_blocks)
                state["chunk"] = max(1, size)
                return state["chunk"]

            items = self._get_logs(
                self.config.markets_from_block,
                head,
                [self.config.morpho],
                ["0x" + spec.topic0.hex()],
                lambda: state["chunk"],
                refused,
                lambda: None,
            )
            types = [f.abi_type for f in spec.data_fields]
            columns = [f.column for f in spec.data_fields]
            markets = []
            for item in items:
                values = dict(
                    zip(columns, abi_decode(types, _bytes(item["data"]) or b""), strict=True)
                )
                markets.append(
                    (
                        values["loan_token"].lower(),
                        values["collateral_token"].lower(),
                        values["oracle"].lower(),
                    )
                )
            self._markets = markets
        return self._markets

    def _eth_calls(self, calls: list[tuple[str, str]]) -> list[Any]:
        return self.client.batch(
            [("eth_call", [{"to": to, "data": data}, "latest"]) for to, data in calls],
            tolerate=True,
        )

    def tokens(self) -> pl.DataFrame:
        self._check_chain()
        addresses = sorted(
            {t for loan, collateral, _ in self.markets() for t in (loan, collateral)}
            | set(self.config.tokens)
        )
        calls = [(a, selector(s)) for a in addresses for s in ("symbol()", "decimals()")]
        results = self._eth_calls(calls)
        rows = []
        for i, address in enumerate(addresses):
            symbol_raw, decimals_raw = results[2 * i], results[2 * i + 1]
            if isinstance(symbol_raw, RpcError) or isinstance(decimals_raw, RpcError):
                log.warning("token %s does not answer symbol()/decimals(); left out", address)
                continue
            rows.append(
                (
                    address,
                    _decode_symbol(symbol_raw),
                    abi_decode(["uint8"], _bytes(decimals_raw) or b"")[0],
                )
            )
        return pl.DataFrame(rows, schema=TOKENS_SCHEMA, orient="row")

    def oracles(self) -> pl.DataFrame:
        self._check_chain()
        addresses = sorted({oracle for *_, oracle in self.markets()} | set(self.config.oracles))
        return read_oracles(self.client, addresses)

    def rate_at(
        self, contract: str, call: str, sample: int | None, blocks: Sequence[int]
    ) -> list[int]:
        self._check_chain()
        return read_rates(self.client, contract, call, sample, blocks)

    def feeds(self) -> pl.DataFrame:
        oracles = self.oracles()
        named = {
            f
            for column in ("base_feed_1", "base_feed_2", "quote_feed_1", "quote_feed_2")
            for f in oracles[column].drop_nulls().to_list()
        }
        found = discover_feeds(
            self.client, named | set(self.config.feeds), self.config.min_block, self.safe_head(),
            self.chain_id, dict(self.config.feed_heartbeats),
        )  # fmt: skip
        if found.not_proxies:
            log.info("not Chainlink proxies (no phaseId()): %s", ", ".join(found.not_proxies))
        return found.feeds


def _decode_symbol(raw: str) -> str:
    data = _bytes(raw) or b""
    if len(data) == 32:  # old tokens (MKR, SAI) return bytes32
        return data.rstrip(b"\x00").decode("utf-8", "replace")
    return str(abi_decode(["string"], data)[0])
