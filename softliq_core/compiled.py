"""The exact engine's hot modules compiled to C with mypyc: the same source, run about twice as fast.

The Morpho replay spends its time in per-event integer Python (the engine, its ledger, the LTV
watch and decline screen, Morpho's math and mechanisms). mypyc (part of mypy) compiles these
modules, already typed for mypy strict, to C extensions with the same semantics: Python's
arbitrary-precision ints, so the math stays exact to the wei. Where compiled code would differ
(an int divided by an int rounds the int to a float first), the source says so and avoids it, and
``tests/integration/test_compiled.py`` replays chains compiled and from source and compares every
row and float bit for bit.

``make install`` builds them (``build()``, about a minute) into
``softliq_core/_compiled/`` with the SHA-256 of each source. Importing ``softliq_core`` puts them
ahead of the sources only when every compiled module's source is unchanged since its build: an
edited source runs everything from source (compiled modules call each other's compiled code
directly, so they are used together or not at all), with a warning naming the file, until
``make install`` builds again. ``SOFTLIQ_PURE_PYTHON=1`` runs from source regardless (to debug, or
to profile with Python-level detail).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import fields
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

PACKAGE = Path(__file__).parent
BUILD = PACKAGE / "_compiled"
MANIFEST = BUILD / "manifest.json"

# The replay's per-event path for Morpho markets; everything else runs from source.
MODULES = (
    "softliq_core.replay.engine",
    "softliq_core.replay.ledger",
    "softliq_core.replay.liquidator",
    "softliq_core.replay.declines",
    "softliq_core.replay.ltv_watch",
    "softliq_core.replay.ltv_record",
    "softliq_core.replay.market_tape",
    "softliq_core.protocols.morpho.math",
    "softliq_core.protocols.morpho.shares",
    "softliq_core.protocols.morpho.health",
    "softliq_core.protocols.morpho.market",
    "softliq_core.protocols.morpho.accrual",
    "softliq_core.protocols.morpho.irm",
    "softliq_core.protocols.morpho.liquidation",
    "softliq_core.protocols.morpho.pre_liquidation",
    "softliq_core.mechanisms.morpho_liquidation",
    "softliq_core.mechanisms.morpho_pre_liquidation",
)


def source_of(module: str) -> Path:
    return PACKAGE.parent / (module.replace(".", "/") + ".py")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled extension of each compiled module (and mypyc's shared library)."""

    def __init__(self, extensions: dict[str, Path]):
        self.extensions = extensions

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        extension = self.extensions.get(fullname)
        if extension is None:
            return None
        return importlib.util.spec_from_file_location(fullname, extension)


def usable_build(manifest: Path = MANIFEST) -> dict[str, Path] | None:
    """Module name -> compiled extension, when a build exists for this Python and every source is
    as it was built; None otherwise (warning when the build is stale)."""
    if not manifest.exists():
        return None
    built = json.loads(manifest.read_text())
    if built.get("suffix") != importlib.machinery.EXTENSION_SUFFIXES[0]:
        return None  # built for another Python
    for module in MODULES:
        entry = built["modules"].get(module)
        if entry is None or entry["sha256"] != _sha256(source_of(module)):
            warnings.warn(
                f"compiled engine not used: {source_of(module).relative_to(PACKAGE.parent)} "
                "changed since it was built (make install builds it again)",
                stacklevel=2,
            )
            return None
    return {
        name: manifest.parent / entry["extension"]
        for name, entry in {**built["modules"], **built["shared"]}.items()
    }


def activate() -> bool:
    """Put the compiled modules ahead of the sources (once, at the package's import); True if so."""
    if os.environ.get("SOFTLIQ_PURE_PYTHON") == "1":
        return False
    extensions = usable_build()
    if extensions is None:
        return False
    sys.meta_path.insert(0, _CompiledFinder(extensions))
    return True


def is_compiled(module: ModuleType) -> bool:
    return Path(module.__file__ or "").suffix != ".py"


def by_fields(instance: DataclassInstance) -> tuple[type, tuple[Any, ...]]:
    """``__reduce__`` of a dataclass kept in a replay's state: rebuilt through its constructor from
    the fields it takes (it derives the others again). A compiled frozen dataclass cannot be
    unpickled or copied the default way (its fields are set after it is made, which frozen
    forbids), and a compiled slots dataclass cannot read the source's pickle of it (a list of
    values): this way a snapshot pickled by either engine is resumed by the other."""
    return type(instance), tuple(getattr(instance, f.name) for f in fields(instance) if f.init)


def build() -> None:
    """Compile ``MODULES`` with mypyc into ``_compiled/`` and write the manifest last."""
    import shutil
    import tempfile

    from mypyc.build import mypycify
    from setuptools import setup

    root = PACKAGE.parent
    shutil.rmtree(BUILD, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(root)  # mypyc names modules by their paths from here
        extensions = mypycify(
            [str(source_of(m).relative_to(root)) for m in MODULES],
            opt_level="3",
            target_dir=str(Path(scratch) / "c"),
        )
        setup(
            name="softliq-compiled",
            packages=[],
            ext_modules=extensions,
            script_args=["-q", "build_ext", "--build-lib", str(BUILD), "--build-temp", scratch],
        )
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    compiled = {str(p.relative_to(BUILD)) for p in BUILD.rglob(f"*{suffix}")}
    modules = {}
    for module in MODULES:
        extension = module.replace(".", "/") + suffix
        assert extension in compiled, f"mypyc built no {extension}"
        modules[module] = {"extension": extension, "sha256": _sha256(source_of(module))}
    shared = {
        name.removesuffix(suffix): {"extension": name} for name in compiled if "/" not in name
    }
    manifest = {"suffix": suffix, "modules": modules, "shared": shared}
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"compiled {len(modules)} modules into {BUILD.relative_to(root)}")
