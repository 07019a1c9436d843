"""The compiled contracts in pyrevm: deploy, call with any sender at any block, revert reasons, logs.

Every transaction is mined in a block of its own; its logs are kept as cryo ``raw_logs`` rows and
its block as a ``blocks`` row (``softliq_core/tables.py``), so softliq's decoder reads them exactly
as it would read a real chain's.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak
from pyrevm import EVM, BlockEnv

from softliq_core.protocols.morpho import errors
from softliq_core.tables import BLOCKS, RAW_LOGS

CHAIN_ID = 1
_ERROR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)
_REVERT_OUTPUT = re.compile(r"output: 0x([0-9a-fA-F]*)")
PANIC_REASONS = {0x11: errors.UNDERFLOW}  # checked arithmetic under/overflow


def _type(arg: dict[str, Any]) -> str:
    if arg["type"].startswith("tuple"):
        inner = ",".join(_type(c) for c in arg["components"])
        return f"({inner}){arg['type'][5:]}"
    return str(arg["type"])


@dataclass(frozen=True)
class Function:
    name: str
    inputs: list[str]
    outputs: list[str]

    @functools.cached_property
    def selector(self) -> bytes:
        return keccak(f"{self.name}({','.join(self.inputs)})".encode())[:4]


def functions(abi: list[dict[str, Any]]) -> dict[str, Function]:
    """Each function by name, and also by its signature (``mint(address,uint256)``): an overloaded
    name keeps the last overload, the signature names each one."""
    found: dict[str, Function] = {}
    for item in abi:
        if item["type"] != "function":
            continue
        fn = Function(
            item["name"], [_type(a) for a in item["inputs"]], [_type(a) for a in item["outputs"]]
        )
        found[item["name"]] = fn
        found[f"{fn.name}({','.join(fn.inputs)})"] = fn
    return found


class Reverted(Exception):
    """The call reverted; ``reason`` is the Error(string) text or the panic's meaning."""

    def __init__(self, reason: str, data: bytes) -> None:
        super().__init__(reason)
        self.reason = reason
        self.data = data


def revert_reason(data: bytes) -> str:
    if data[:4] == _ERROR:
        (text,) = decode(["string"], data[4:])
        return str(text)
    if data[:4] == _PANIC:
        (code,) = decode(["uint256"], data[4:])
        return PANIC_REASONS.get(code, f"panic 0x{code:x}")
    return "0x" + data.hex()


@dataclass
class Contract:
    chain: Chain
    address: str
    abi: dict[str, Function]

    def call(self, sender: str, name: str, *args: Any) -> tuple[Any, ...]:
        """A transaction in a new block; raises Reverted."""
        return self.chain.transact(sender, self, name, args)

    def raw_view(self, calldata: bytes) -> bytes:
        """A static call with calldata the caller encoded (the hot path of state snapshots)."""
        return bytes(self.chain.evm.message_call(self.chain.viewer, self.address, calldata))

    def view(self, name: str, *args: Any) -> tuple[Any, ...]:
        fn = self.abi[name]
        out = self.chain.evm.message_call(
            self.chain.viewer, self.address, fn.selector + encode(fn.inputs, list(args))
        )
        return tuple(decode(fn.outputs, bytes(out)))


@dataclass
class Chain:
    artifacts: dict[str, Any]
    timestamp: int = 1_700_000_000
    block_number: int = 1
    viewer: str = "0x" + "fe" * 20
    evm: EVM = field(default_factory=EVM)
    logs: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._set_block()

    def _set_block(self) -> None:
        self.evm.set_block_env(BlockEnv(number=self.block_number, timestamp=self.timestamp))

    def _mine(self) -> None:
        """Record the current block and move to the next one (same timestamp)."""
        self.blocks.append(
            {
                "block_number": self.block_number,
                "block_hash": keccak(b"block" + self.block_number.to_bytes(8, "big")),
                "parent_hash": keccak(b"block" + (self.block_number - 1).to_bytes(8, "big")),
                "timestamp": self.timestamp,
                "base_fee_per_gas": 0,
                "chain_id": CHAIN_ID,
            }
        )
        self.block_number += 1
        self._set_block()

    def warp(self, seconds: int) -> None:
        self.timestamp += seconds
        self._set_block()

    def deploy(
        self, name: str, *ctor: tuple[str, Any], sender: str, code: bytes | None = None
    ) -> Contract:
        """Deploy artifact ``name`` (or ``code``, e.g. its bytecode with libraries linked)."""
        artifact = self.artifacts["contracts"][name]
        if code is None:
            code = bytes.fromhex(artifact["bytecode"])
        if ctor:
            code += encode([t for t, _ in ctor], [v for _, v in ctor])
        address = self.evm.deploy(sender, code).lower()
        result = self.evm.result
        self._record_logs(result.logs if result is not None else [])
        self._mine()
        return Contract(self, address, functions(artifact["abi"]))

    def at(self, name: str, address: str) -> Contract:
        """Artifact ``name``'s ABI at an address already deployed (a proxy, a created token)."""
        return Contract(self, address.lower(), functions(self.artifacts["contracts"][name]["abi"]))

    def transact(
        self, sender: str, contract: Contract, name: str, args: tuple[Any, ...]
    ) -> tuple[Any, ...]:
        fn = contract.abi[name]
        calldata = fn.selector + encode(fn.inputs, list(args))
        try:
            out = self.evm.message_call(sender, contract.address, calldata)
        except RuntimeError as exc:
            match = _REVERT_OUTPUT.search(str(exc))
            if match is None or not str(exc).startswith("Revert"):
                raise
            data = bytes.fromhex(match.group(1))
            self._mine()
            raise Reverted(revert_reason(data), data) from None
        result = self.evm.result
        assert result is not None and result.is_success, result
        self._record_logs(result.logs)
        self._mine()
        return tuple(decode(fn.outputs, bytes(out)))

    def _record_logs(self, logs: list[Any]) -> None:
        """The transaction's logs as cryo raw_logs rows of the current block."""
        tx_hash = keccak(b"tx" + self.block_number.to_bytes(8, "big"))
        for index, log in enumerate(logs):
            topics, data = log.data
            topics = [bytes(t) for t in topics] + [None] * (4 - len(topics))
            self.logs.append(
                {
                    "block_number": self.block_number,
                    "block_hash": keccak(b"block" + self.block_number.to_bytes(8, "big")),
                    "transaction_index": 0,
                    "log_index": index,
                    "transaction_hash": tx_hash,
                    "address": bytes.fromhex(log.address[2:]),
                    "topic0": topics[0],
                    "topic1": topics[1],
                    "topic2": topics[2],
                    "topic3": topics[3],
                    "data": bytes(data),
                    "n_data_bytes": len(data),
                    "chain_id": CHAIN_ID,
                }
            )

    def raw_logs(self) -> pl.DataFrame:
        return pl.DataFrame(self.logs, schema=pl.Schema(RAW_LOGS))  # type: ignore[arg-type]

    def blocks_frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.blocks, schema=pl.Schema(BLOCKS))  # type: ignore[arg-type]
