"""A JSON-RPC server on 127.0.0.1 serving a synthetic chain, with what real providers do to clients.

It answers eth_chainId, eth_blockNumber, eth_getBlockByNumber (single and batch), eth_getLogs
(address and topic filters, fromBlock/toBlock) and eth_call for the tokens' ``symbol()``/``decimals()``
and the oracles' MorphoChainlinkOracleV2 immutables, from a ``SyntheticChain``; and, at any block
(archive ``eth_call``), the Chainlink proxies' ``phaseId()``, ``phaseAggregators(uint16)``,
``aggregator()``, ``description()`` and ``decimals()`` (empty before the proxy exists, as a chain
answers for an address without code) and the rate adapters' ``latestRoundData()``.

Limits (always applied when set): a block range per eth_getLogs (refused with or without a suggested
range, Alchemy's or an Ankr-like wording), a result count (Infura's wording, with or without the
suggested range), a batch size. Faults (per HTTP request): scheduled ones (``schedule``) first, then
random ones at ``rate`` from a seeded generator: 429 with Retry-After, JSON-RPC rate-limit errors,
500/502/503, timeouts (the server sleeps past the client's timeout), dropped connections, truncated
JSON, and batches where some items are rate-limited.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import polars as pl
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.crypto import keccak

from softliq_core.sources.synthetic import SyntheticChain
from softliq_core.tables import BLOCKS, RAW_LOGS

FAULT_KINDS = ("429", "rpc_rate", "500", "502", "503", "timeout", "reset", "garbage", "partial")


@dataclass
class Limits:
    max_range: int | None = None  # blocks per eth_getLogs
    range_style: str = (
        "alchemy"  # "alchemy": says the limit and a range that works; "plain": neither
    )
    max_results: int | None = None  # logs per eth_getLogs
    results_style: str = "infura"  # "infura": a range that works (message and data); "plain": none
    max_batch: int | None = None


@dataclass
class Faults:
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    retry_after: str = "0"
    timeout_sleep: float = 0.5
    scheduled: deque[str] = field(default_factory=deque)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def _selector(signature: str) -> str:
    return keccak(text=signature)[:4].hex()


class _Error(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            self.body["data"] = data


class ChainRpcServer:
    def __init__(
        self, chain: SyntheticChain, limits: Limits | None = None, faults: Faults | None = None
    ) -> None:
        self.chain = chain
        self.limits = limits or Limits()
        self.faults = faults or Faults()
        self.stats: Counter[str] = Counter()
        self.paths: set[str] = set()
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        self.chain_id = chain.config.chain_id
        self._blocks: dict[int, dict[str, Any]] = {}
        for row in chain.blocks.iter_rows(named=True):
            self._blocks[row["block_number"]] = {
                "number": hex(row["block_number"]),
                "hash": _hex(row["block_hash"]),
                "parentHash": _hex(row["parent_hash"]),
                "timestamp": hex(row["timestamp"]),
                "baseFeePerGas": hex(row["base_fee_per_gas"]),
                "gasLimit": hex(30_000_000),
                "miner": "0x" + "00" * 20,
                "transactions": [],
            }
        self.head = max(self._blocks)  # tests lower it to serve a chain that has not grown yet
        self.finalized_lag = 0  # blocks between the head and the `finalized`/`safe` tags
        self._logs: list[dict[str, Any]] = []
        for row in chain.raw_logs.sort("block_number", "log_index").iter_rows(named=True):
            topics = [_hex(row[f"topic{i}"]) for i in range(4) if row[f"topic{i}"] is not None]
            self._logs.append(
                {
                    "address": _hex(row["address"]),
                    "topics": topics,
                    "data": _hex(row["data"]),
                    "blockNumber": hex(row["block_number"]),
                    "blockHash": _hex(row["block_hash"]),
                    "transactionHash": _hex(row["transaction_hash"]),
                    "transactionIndex": hex(row["transaction_index"]),
                    "logIndex": hex(row["log_index"]),
                    "removed": False,
                }
            )
        self._log_blocks = [int(item["blockNumber"], 16) for item in self._logs]
        self._calls: dict[tuple[str, str], str] = {}
        for token in chain.tokens.values():
            self._calls[(token.address, _selector("symbol()"))] = abi_encode(
                ["string"], [token.symbol]
            ).hex()
            self._calls[(token.address, _selector("decimals()"))] = abi_encode(
                ["uint8"], [token.decimals]
            ).hex()
        for row in chain.oracles_table().iter_rows(named=True):  # MorphoChainlinkOracleV2s
            for name in ("base_feed_1", "base_feed_2", "quote_feed_1", "quote_feed_2", "base_vault", "quote_vault"):  # fmt: skip
                self.add_call(row["oracle"], f"{name.upper()}()", "address", row[name] or "0x" + "00" * 20)  # fmt: skip
            for name in ("base_vault_conversion_sample", "quote_vault_conversion_sample", "scale_factor"):  # fmt: skip
                self.add_call(row["oracle"], f"{name.upper()}()", "uint256", int(row[name]))
        self._proxies = {p.address: p for p in chain.proxies.values()}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[int], None] | None = None  # called with the request count

    def add_call(self, to: str, signature: str, abi_type: str, value: Any) -> None:
        """Answer ``eth_call`` of a getter without arguments with ``value`` at every block."""
        self._calls[(to, _selector(signature))] = abi_encode([abi_type], [value]).hex()

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> ChainRpcServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str = "/") -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def schedule(self, kind: str, times: int = 1) -> None:
        self.faults.scheduled.extend([kind] * times)

    def faults_injected(self) -> int:
        """Requests answered with a fault (rate-limited items inside a batch not counted)."""
        return sum(
            v for k, v in self.stats.items() if k.startswith("fault:") and k != "fault:partial_item"
        )

    # -- the chain --------------------------------------------------------------------------------

    def reorg(self, first_block: int, new_head: int | None = None) -> None:
        """Replace every block from ``first_block`` on, as a reorg does: new hashes (each block's
        parent the new previous block), and the logs of every odd transaction index gone (log
        indexes renumbered within each block). ``new_head`` then lets the chain grow past it."""
        previous = self._blocks[first_block - 1]["hash"]
        for number in range(first_block, max(self._blocks) + 1):
            block = dict(self._blocks[number])
            block["hash"] = "0x" + keccak(b"reorg" + bytes.fromhex(block["hash"][2:])).hex()
            block["parentHash"] = previous
            self._blocks[number] = block
            previous = block["hash"]
        kept, counters = [], Counter[int]()
        for item in self._logs:
            number = int(item["blockNumber"], 16)
            if number >= first_block:
                if int(item["transactionIndex"], 16) % 2:
                    continue
                item = {**item, "blockHash": self._blocks[number]["hash"]}
                item["logIndex"] = hex(counters[number])
                counters[number] += 1
            kept.append(item)
        self._logs = kept
        self._log_blocks = [int(item["blockNumber"], 16) for item in self._logs]
        if new_head is not None:
            self.head = new_head

    def served(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The chain as served now, up to the head: ``raw_logs`` and ``blocks`` rows (lake schema)."""
        blocks = pl.DataFrame(
            [
                (n, bytes.fromhex(b["hash"][2:]), bytes.fromhex(b["parentHash"][2:]),
                 int(b["timestamp"], 16), int(b["baseFeePerGas"], 16), self.chain_id)
                for n, b in sorted(self._blocks.items()) if n <= self.head
            ],
            schema=pl.Schema(BLOCKS),
            orient="row",
        )  # fmt: skip
        logs = pl.DataFrame(
            [
                (
                    int(i["blockNumber"], 16), bytes.fromhex(i["blockHash"][2:]),
                    int(i["transactionIndex"], 16), int(i["logIndex"], 16),
                    bytes.fromhex(i["transactionHash"][2:]), bytes.fromhex(i["address"][2:]),
                    *[bytes.fromhex(t[2:]) for t in i["topics"]], *[None] * (4 - len(i["topics"])),
                    bytes.fromhex(i["data"][2:]), len(i["data"]) // 2 - 1, self.chain_id,
                )
                for i in self._logs if int(i["blockNumber"], 16) <= self.head
            ],
            schema=pl.Schema(RAW_LOGS),
            orient="row",
        )  # fmt: skip
        return logs, blocks

    def _block_number(self, tag: Any) -> int:
        if tag in ("safe", "finalized"):
            return self.head - self.finalized_lag
        if tag in ("latest", "pending"):
            return self.head
        if tag == "earliest":
            return min(self._blocks)
        return int(tag, 16)

    def _get_logs(self, flt: dict[str, Any]) -> list[dict[str, Any]]:
        first = self._block_number(flt.get("fromBlock", "latest"))
        last = min(self.head, self._block_number(flt.get("toBlock", "latest")))
        if last < first:
            raise _Error(-32602, "invalid block range params")
        limits = self.limits
        if limits.max_range is not None and last - first + 1 > limits.max_range:
            self.stats["refused:range"] += 1
            if limits.range_style == "alchemy":
                raise _Error(
                    -32600,
                    f"Under the Free tier plan, you can make eth_getLogs requests with up to a "
                    f"{limits.max_range} block range. Based on your parameters, this block range "
                    f"should work: [{hex(first)}, {hex(first + limits.max_range - 1)}]",
                )
            raise _Error(-32000, "block range is too wide")
        addresses = flt.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        wanted = {a.lower() for a in addresses} if addresses else None
        topic_filter = flt.get("topics") or []
        lo = bisect.bisect_left(self._log_blocks, first)
        hi = bisect.bisect_right(self._log_blocks, last)
        found = []
        for item in self._logs[lo:hi]:
            if wanted is not None and item["address"] not in wanted:
                continue
            if not _topics_match(item["topics"], topic_filter):
                continue
            found.append(item)
        if limits.max_results is not None and len(found) > limits.max_results:
            self.stats["refused:results"] += 1
            message = f"query returned more than {limits.max_results} results"
            if limits.results_style == "infura":
                # the largest range from `first` with at most max_results logs
                last_ok = int(found[limits.max_results]["blockNumber"], 16) - 1
                last_ok = max(first, last_ok)
                return_range = {"from": hex(first), "to": hex(last_ok)}
                raise _Error(
                    -32005,
                    f"{message}. Try with this block range [{hex(first)}, {hex(last_ok)}].",
                    return_range,
                )
            raise _Error(-32005, message)
        return found

    def _proxy_call(self, proxy: Any, data: str, block: int) -> str:
        phases = [(p, agg.address) for p, agg, first in proxy.phases if first <= block]
        if not phases:
            return "0x"  # no code yet
        selector, args = data[:8], bytes.fromhex(data[8:])
        if selector == _selector("phaseId()"):
            return "0x" + abi_encode(["uint16"], [phases[-1][0]]).hex()
        if selector == _selector("aggregator()"):
            return "0x" + abi_encode(["address"], [phases[-1][1]]).hex()
        if selector == _selector("phaseAggregators(uint16)"):
            (wanted,) = abi_decode(["uint16"], args)
            known = dict(phases)
            return "0x" + abi_encode(["address"], [known.get(wanted, "0x" + "00" * 20)]).hex()
        if selector == _selector("description()"):
            return "0x" + abi_encode(["string"], [proxy.spec.name]).hex()
        if selector == _selector("decimals()"):
            return "0x" + abi_encode(["uint8"], [proxy.spec.decimals]).hex()
        raise _Error(3, "execution reverted")

    def _eth_call(self, call: dict[str, Any], tag: Any = "latest") -> str:
        to = str(call.get("to", "")).lower()
        data = str(call.get("data") or call.get("input") or "")[2:10]
        if to in self.chain.adapters and data == _selector("latestRoundData()"):
            block = self._block_number(tag)
            answer = self.chain.adapters[to].answer_after(block)
            types = ["uint80", "int256", "uint256", "uint256", "uint80"]
            return "0x" + abi_encode(types, [0, answer, 0, 0, 0]).hex()
        if to in self._proxies:
            block = self._block_number(tag)
            if block > self.head:
                raise _Error(-32000, f"header not found for block {block}")
            payload = str(call.get("data") or call.get("input") or "")[2:]
            return self._proxy_call(self._proxies[to], payload, block)
        answer = self._calls.get((to, data))
        if answer is None:
            raise _Error(3, "execution reverted")
        return "0x" + answer

    def _answer(self, method: str, params: list[Any]) -> Any:
        self.stats[f"method:{method}"] += 1
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.head)
        if method == "eth_getBlockByNumber":
            number = self._block_number(params[0])
            return self._blocks.get(number) if number <= self.head else None
        if method == "eth_getLogs":
            return self._get_logs(params[0])
        if method == "eth_call":
            return self._eth_call(params[0], params[1] if len(params) > 1 else "latest")
        raise _Error(-32601, f"the method {method} does not exist/is not available")

    def _one(self, request: dict[str, Any], rate_limit_item: bool = False) -> dict[str, Any]:
        response: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        if rate_limit_item:
            self.stats["fault:partial_item"] += 1
            response["error"] = {"code": 429, "message": "Too many requests, rate limit exceeded"}
            return response
        try:
            response["result"] = self._answer(request["method"], request.get("params") or [])
        except _Error as error:
            response["error"] = error.body
        return response

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults.scheduled:
                return self.faults.scheduled.popleft()
            if self.faults.rate and self._rng.random() < self.faults.rate:
                return self._rng.choice(self.faults.kinds)
        return None

    def handle(self, body: bytes, path: str = "/") -> tuple[int, dict[str, str], bytes, str | None]:
        """Status, headers, body, and the fault applied (None for an honest answer)."""
        self.stats["requests"] += 1
        if self.on_request is not None:
            self.on_request(self.stats["requests"])
        fault = self._next_fault()
        if fault is not None:
            self.stats[f"fault:{fault}"] += 1
        retry = {"Retry-After": self.faults.retry_after}
        if fault == "429":
            error = {
                "code": 429,
                "message": "Your app has exceeded its compute units per second capacity.",
            }
            return (
                429,
                retry,
                json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode(),
                fault,
            )
        if fault == "403":  # a rejected key, echoed back as some providers do
            error = {"code": -32002, "message": f"invalid project id: {path}"}
            return (
                403,
                {},
                json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode(),
                fault,
            )
        if fault == "500":
            return 500, {}, b"Internal Server Error", fault
        if fault == "502":
            return 502, {}, b"<html><body><h1>502 Bad Gateway</h1></body></html>", fault
        if fault == "503":
            return 503, retry, b"Service Unavailable", fault
        if fault in ("timeout", "reset"):
            return 0, {}, b"", fault
        request = json.loads(body)
        if fault == "rpc_rate":
            error = {
                "code": -32005,
                "message": "daily request count exceeded, request rate limited",
            }
            if isinstance(request, list):
                payload: Any = [
                    {"jsonrpc": "2.0", "id": r.get("id"), "error": error} for r in request
                ]
            else:
                payload = {"jsonrpc": "2.0", "id": request.get("id"), "error": error}
            return 200, {}, json.dumps(payload).encode(), fault
        if isinstance(request, list):
            if self.limits.max_batch is not None and len(request) > self.limits.max_batch:
                self.stats["refused:batch"] += 1
                error = {
                    "code": -32600,
                    "message": f"batch size exceeds the maximum of {self.limits.max_batch}",
                }
                payload = {"jsonrpc": "2.0", "id": None, "error": error}
            else:
                limited = set()
                if fault == "partial":
                    limited = {i for i in range(len(request)) if self._rng.random() < 0.3}
                payload = [self._one(r, i in limited) for i, r in enumerate(request)]
                payload.reverse()  # JSON-RPC does not promise order; clients sort by id
        else:
            payload = self._one(request)
        text = json.dumps(payload).encode()
        if fault == "garbage":
            return 200, {}, text[: len(text) // 2], fault
        return 200, {}, text, fault


def _topics_match(topics: list[str], wanted: list[Any]) -> bool:
    for position, option in enumerate(wanted):
        if option is None:
            continue
        if position >= len(topics):
            return False
        options = option if isinstance(option, list) else [option]
        if topics[position] not in {o.lower() for o in options}:
            return False
    return True


def _handler(server: ChainRpcServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one response, no 40 ms delayed-ACK stall per request

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            server.paths.add(self.path)
            status, headers, payload, fault = server.handle(body, self.path)
            if fault == "timeout":
                time.sleep(server.faults.timeout_sleep)
                self.close_connection = True
                return
            if fault == "reset":
                self.close_connection = True
                return
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler


@contextmanager
def serving(
    chain: SyntheticChain, limits: Limits | None = None, faults: Faults | None = None
) -> Iterator[ChainRpcServer]:
    server = ChainRpcServer(chain, limits, faults).start()
    try:
        yield server
    finally:
        server.stop()
