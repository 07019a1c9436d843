"""What a pipeline step process imports: every step of a multiprocess run imports the definitions,
so web3 (an RPC client) and matplotlib (the report's charts), most of a second to import each, are
left to the few steps that use them."""

from __future__ import annotations

import subprocess
import sys

LOADED_LATER = ("web3", "matplotlib")


def test_the_definitions_import_neither_web3_nor_matplotlib() -> None:
    probe = (
        "import sys, pipelines.definitions; "
        f"print(' '.join(m for m in {LOADED_LATER!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
