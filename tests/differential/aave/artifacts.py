"""Aave V3's own compiled contracts, from the npm registry only, into a git-ignored cache.

``npm install @aave/core-v3@1.19.3`` puts the package into ``.cache/evm/<key>/``. The package ships
Hardhat artifacts compiled by Aave's own build (solc 0.8.10, optimizer on, 100,000 runs, evmVersion
london; the exact settings are read from the package's ``build-info`` and recorded). The bytecode is
used as shipped: the libraries (SupplyLogic, BorrowLogic, LiquidationLogic, ...) are deployed and
their addresses linked into Pool, PoolConfigurator and FlashLoanLogic at deploy time (``link``).
``artifacts.json`` keeps the ABI, bytecode and link references of the contracts the market needs.
Nothing third-party is committed. ``python -m tests.differential.aave.artifacts`` builds ahead
(``make evm-artifacts``); the tests build on first use, under a file lock.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ..artifacts import CACHE, ToolchainMissing, _run, node_toolchain

AAVE_CORE = "@aave/core-v3"
AAVE_CORE_VERSION = "1.19.3"
PACKAGES = {AAVE_CORE: AAVE_CORE_VERSION}

# name -> path under the package's artifacts/contracts/
CONTRACTS = {
    "PoolAddressesProvider": "protocol/configuration/PoolAddressesProvider.sol",
    "ACLManager": "protocol/configuration/ACLManager.sol",
    "Pool": "protocol/pool/Pool.sol",
    "PoolConfigurator": "protocol/pool/PoolConfigurator.sol",
    "DefaultReserveInterestRateStrategy": "protocol/pool/DefaultReserveInterestRateStrategy.sol",
    "AToken": "protocol/tokenization/AToken.sol",
    "VariableDebtToken": "protocol/tokenization/VariableDebtToken.sol",
    "StableDebtToken": "protocol/tokenization/StableDebtToken.sol",
    "AaveOracle": "misc/AaveOracle.sol",
    "AaveProtocolDataProvider": "misc/AaveProtocolDataProvider.sol",
    "SupplyLogic": "protocol/libraries/logic/SupplyLogic.sol",
    "BorrowLogic": "protocol/libraries/logic/BorrowLogic.sol",
    "LiquidationLogic": "protocol/libraries/logic/LiquidationLogic.sol",
    "EModeLogic": "protocol/libraries/logic/EModeLogic.sol",
    "BridgeLogic": "protocol/libraries/logic/BridgeLogic.sol",
    "FlashLoanLogic": "protocol/libraries/logic/FlashLoanLogic.sol",
    "PoolLogic": "protocol/libraries/logic/PoolLogic.sol",
    "ConfiguratorLogic": "protocol/libraries/logic/ConfiguratorLogic.sol",
    "MintableERC20": "mocks/tokens/MintableERC20.sol",
    "MockAggregator": "mocks/oracle/CLAggregators/MockAggregator.sol",
}
# The libraries in deployment order (FlashLoanLogic links BorrowLogic).
LIBRARIES = [
    "SupplyLogic",
    "BorrowLogic",
    "LiquidationLogic",
    "EModeLogic",
    "BridgeLogic",
    "PoolLogic",
    "FlashLoanLogic",
    "ConfiguratorLogic",
]

# Contracts whose storage layout is kept (the harness reads their mappings without a call).
STORAGE_LAYOUTS = ["Pool", "AToken", "VariableDebtToken"]

_HERE = Path(__file__).resolve()


def cache_key() -> str:
    digest = hashlib.sha256(
        json.dumps([PACKAGES, CONTRACTS], sort_keys=True).encode() + _HERE.read_bytes()
    ).hexdigest()[:12]
    return f"aave-core-v3-{AAVE_CORE_VERSION}_{digest}"


def cache_dir() -> Path:
    return CACHE / cache_key()


def _extract(package: Path) -> dict[str, Any]:
    """The contracts' ABI, creation bytecode and link references, and the compiler settings."""
    root = package / "artifacts" / "contracts"
    contracts: dict[str, Any] = {}
    for name, source in CONTRACTS.items():
        artifact = json.loads((root / source / f"{name}.json").read_text())
        contracts[name] = {
            "source": f"contracts/{source}",
            "abi": artifact["abi"],
            "bytecode": artifact["bytecode"].removeprefix("0x"),
            "linkReferences": artifact["linkReferences"],
        }
    (build_info,) = (package / "artifacts" / "build-info").glob("*.json")
    info = json.loads(build_info.read_text())
    # Storage slots of the state the harness reads directly (the compiler's storageLayout).
    for name in STORAGE_LAYOUTS:
        layout = info["output"]["contracts"][contracts[name]["source"]][name]["storageLayout"]
        contracts[name]["storage"] = {
            item["label"]: int(item["slot"]) for item in layout["storage"] if item["offset"] == 0
        }
    settings = {k: v for k, v in info["input"]["settings"].items() if k != "outputSelection"}
    return {
        "package": f"{AAVE_CORE}@{AAVE_CORE_VERSION}",
        "compiler": info["solcLongVersion"],
        "settings": settings,
        "contracts": contracts,
    }


def build(force: bool = False) -> Path:
    """npm install the package and extract the artifacts, unless the cache already holds them."""
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
        package = {"name": "softliq-evm-aave-cache", "private": True, "dependencies": PACKAGES}
        (target / "package.json").write_text(json.dumps(package, indent=2))
        _run(
            ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact"],
            target,
        )
        data = _extract(target / "node_modules" / "@aave" / "core-v3")
        tmp = artifacts.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.rename(artifacts)
    return target


@functools.cache
def load() -> dict[str, Any]:
    """{package, compiler, settings, contracts: name -> {abi, bytecode, linkReferences, source,
    and for STORAGE_LAYOUTS storage: variable -> slot}}."""
    data: dict[str, Any] = json.loads((build() / "artifacts.json").read_text())
    return data


def link(artifact: dict[str, Any], libraries: dict[str, str]) -> bytes:
    """The creation bytecode with each library placeholder replaced by its deployed address."""
    code = artifact["bytecode"]
    for refs in artifact["linkReferences"].values():
        for library, places in refs.items():
            address = libraries[library].removeprefix("0x").lower()
            for place in places:
                start, length = 2 * place["start"], 2 * place["length"]
                assert length == 40, place
                code = code[:start] + address + code[start + length :]
    assert "__" not in code, "unlinked library placeholder left"
    return bytes.fromhex(code)


def verify() -> dict[str, bool]:
    """Recompile the package's sources from its own build-info (the exact standard-JSON input)
    with npm ``solc`` at the build's version and compare each contract's creation bytecode
    (metadata hash included) with the shipped one the harness deploys. Slow (minutes of solc-js);
    not part of the tests: ``python -m tests.differential.aave.artifacts --verify``."""
    target = build()
    data = load()
    version = data["compiler"].split("+")[0]
    solc_dir = target / f"solc-{version}"
    solc_dir.mkdir(exist_ok=True)
    (solc_dir / "package.json").write_text(
        json.dumps({"name": "softliq-evm-solc", "private": True, "dependencies": {"solc": version}})
    )
    _run(
        ["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact"], solc_dir
    )
    (build_info,) = (
        target / "node_modules" / "@aave" / "core-v3" / "artifacts" / "build-info"
    ).glob("*.json")
    names = {name: c["source"] for name, c in data["contracts"].items()}
    out = solc_dir / "compiled.json"
    _run(
        [
            "node",
            str(_HERE.parent.parent / "node" / "aave_verify.cjs"),
            str(solc_dir),
            str(build_info),
            json.dumps(names),
            str(out),
        ],
        target,
    )
    compiled = json.loads(out.read_text())["contracts"]
    return {name: compiled[name] == c["bytecode"] for name, c in data["contracts"].items()}


if __name__ == "__main__":
    path = build(force="--force" in sys.argv)
    info = json.loads((path / "artifacts.json").read_text())
    print(f"{path}: {info['package']}, solc {info['compiler']}, {info['settings']['optimizer']}")
    if "--verify" in sys.argv:
        same = verify()
        for name, ok in same.items():
            print(f"{name}: {'identical' if ok else 'DIFFERENT'}")
        sys.exit(0 if all(same.values()) else 1)
