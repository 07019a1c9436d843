"""Morpho Blue's bytecode and blue-sdk, from package registries only, into a git-ignored cache.

``npm install`` puts the pinned packages into ``.cache/evm/<key>/`` (the key names every package,
the compiler and a hash of the settings and of the compile script), then ``node/compile.cjs``
compiles ``src/Morpho.sol`` and the package's mocks with solc-js through standard-JSON and writes
``artifacts.json`` there. Nothing third-party is committed. Run ``python -m tests.differential.artifacts``
(``make evm-artifacts``) to build ahead; the tests build on first use, under a file lock so parallel
workers build once.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

MORPHO_BLUE = "@morpho-org/morpho-blue"
MORPHO_BLUE_VERSION = "1.0.0"
SOLC_VERSION = "0.8.19"
BLUE_SDK = "@morpho-org/blue-sdk"
BLUE_SDK_VERSION = "6.4.0"
MORPHO_TS_VERSION = "2.7.0"  # blue-sdk's peer dependency
VIEM_VERSION = "2.54.2"  # imported by blue-sdk's ESM build (its own devDependency pin)
PACKAGES = {
    MORPHO_BLUE: MORPHO_BLUE_VERSION,
    "solc": SOLC_VERSION,
    BLUE_SDK: BLUE_SDK_VERSION,
    "@morpho-org/morpho-ts": MORPHO_TS_VERSION,
    "viem": VIEM_VERSION,
}

# Morpho Blue's own foundry.toml (repository root; not shipped in the npm package):
# via_ir = true, optimizer = true, optimizer_runs = 999999, bytecode_hash = "none", evm_version = "paris".
SOLC_SETTINGS: dict[str, Any] = {
    "viaIR": True,
    "optimizer": {"enabled": True, "runs": 999_999},
    "evmVersion": "paris",
    "metadata": {"bytecodeHash": "none"},
}

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"
CACHE = Path(os.environ.get("SOFTLIQ_EVM_CACHE", ROOT / ".cache" / "evm"))


class ToolchainMissing(RuntimeError):
    """node or npm is not on PATH."""


def node_toolchain() -> str | None:
    """None when node and npm are on PATH, else why the EVM suite cannot run."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not on PATH" if missing else None


def cache_key() -> str:
    digest = hashlib.sha256(
        json.dumps([SOLC_SETTINGS, PACKAGES], sort_keys=True).encode()
        + (NODE_DIR / "compile.cjs").read_bytes()
    ).hexdigest()[:12]
    return (
        f"morpho-blue-{MORPHO_BLUE_VERSION}_solc-{SOLC_VERSION}"
        f"_blue-sdk-{BLUE_SDK_VERSION}_{digest}"
    )


def cache_dir() -> Path:
    return CACHE / cache_key()


def _run(cmd: list[str], cwd: Path) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    if done.stdout.strip():
        print(done.stdout.strip(), file=sys.stderr)


def build(force: bool = False) -> Path:
    """Install the packages and compile, unless the cache already holds the artifacts."""
    reason = node_toolchain()
    if reason is not None:
        raise ToolchainMissing(reason)
    target = cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    artifacts = target / "artifacts.json"
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if artifacts.exists() and not force:
            return target
        package = {
            "name": "softliq-evm-cache",
            "private": True,
            "dependencies": PACKAGES,
        }
        (target / "package.json").write_text(json.dumps(package, indent=2))
        _run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact"],
            target,
        )
        _run(
            [
                "node",
                str(NODE_DIR / "compile.cjs"),
                str(target),
                json.dumps(SOLC_SETTINGS),
                str(artifacts),
            ],
            target,
        )
    return target


@functools.cache
def load() -> dict[str, Any]:
    """The compiled contracts: name -> {abi, bytecode, deployedBytecode, source}."""
    data: dict[str, Any] = json.loads((build() / "artifacts.json").read_text())
    return data


if __name__ == "__main__":
    path = build(force="--force" in sys.argv)
    info = json.loads((path / "artifacts.json").read_text())
    print(f"{path}: solc {info['compiler']}, {sorted(info['contracts'])}")
