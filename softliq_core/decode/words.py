"""Vectorised conversions of 32-byte ABI words (polars binary Series) into column values.

uint256/int256 become exact decimal strings: the low 128 bits go through polars' UInt128, and only
the rare words with high bits set fall back to Python integers. Each converter also returns a mask
of the words that are not a valid encoding of their type (dirty padding), for quarantine.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

Converter = Callable[[pl.Series], tuple[pl.Series, pl.Series]]
_ZERO16 = bytes(16)
_ONES16 = b"\xff" * 16


def _equals(words: pl.Series, constant: bytes) -> pl.Series:
    """Elementwise ``words == constant`` (a bytes literal), nulls counted as equal."""
    return (
        words.to_frame("w")
        .select((pl.col("w") == pl.lit(constant, dtype=pl.Binary)).fill_null(True))
        .to_series()
    )


def _halves(words: pl.Series) -> tuple[pl.Series, pl.Series]:
    return words.bin.slice(0, 16), words.bin.slice(16, 16)


def uint256(words: pl.Series) -> tuple[pl.Series, pl.Series]:
    high, low = _halves(words)
    out = low.bin.reinterpret(dtype=pl.UInt128, endianness="big").cast(pl.String)
    wide = ~_equals(high, _ZERO16)
    if wide.any():
        idx = wide.arg_true()
        out = out.scatter(idx, [str(int.from_bytes(w, "big")) for w in words.gather(idx)])
    return out, pl.Series(values=[False] * len(words), dtype=pl.Boolean)


def int256(words: pl.Series) -> tuple[pl.Series, pl.Series]:
    high, low = _halves(words)
    low_signed = low.bin.reinterpret(dtype=pl.Int128, endianness="big")
    fits = (_equals(high, _ZERO16) & (low_signed >= 0)) | (
        _equals(high, _ONES16) & (low_signed < 0)
    )
    out = low_signed.cast(pl.String)
    wide = (~fits).fill_null(False)
    if wide.any():
        idx = wide.arg_true()
        out = out.scatter(
            idx, [str(int.from_bytes(w, "big", signed=True)) for w in words.gather(idx)]
        )
    return out, pl.Series(values=[False] * len(words), dtype=pl.Boolean)


def address(words: pl.Series) -> tuple[pl.Series, pl.Series]:
    dirty = ~_equals(words.bin.slice(0, 12), bytes(12))
    return "0x" + words.bin.slice(12, 20).bin.encode("hex"), dirty


def bytes32(words: pl.Series) -> tuple[pl.Series, pl.Series]:
    return "0x" + words.bin.encode("hex"), pl.Series(values=[False] * len(words), dtype=pl.Boolean)


def boolean(words: pl.Series) -> tuple[pl.Series, pl.Series]:
    dirty = ~_equals(words.bin.slice(0, 31), bytes(31)) | (
        words.bin.slice(31, 1).bin.reinterpret(dtype=pl.UInt8) > 1
    ).fill_null(False)
    return words.bin.slice(31, 1).bin.reinterpret(dtype=pl.UInt8) == 1, dirty


def _small_uint(n_bytes: int) -> Converter:
    """uintN for N ≤ 32 bits: the high bytes must be zero."""

    def convert(words: pl.Series) -> tuple[pl.Series, pl.Series]:
        dirty = ~_equals(words.bin.slice(0, 32 - n_bytes), bytes(32 - n_bytes))
        # Clean words have zeros above their N bits, so the last four bytes hold the value.
        return words.bin.slice(28, 4).bin.reinterpret(dtype=pl.UInt32, endianness="big"), dirty

    return convert


CONVERTERS: dict[str, Converter] = {
    "uint256": uint256,
    "int256": int256,
    "address": address,
    "bytes32": bytes32,
    "bool": boolean,
    "uint8": _small_uint(1),
    "uint16": _small_uint(2),
}
