"""Where the lake's files live: a local directory or an object store (``s3://bucket/prefix``,
``gs://bucket/prefix``, ``abfs://...``: whatever ``pyarrow.fs`` resolves), behind one interface.

An object store is configured the way its own tools are, from the environment: for S3 the AWS_*
variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``; ``AWS_ENDPOINT_URL`` for
MinIO or another S3-compatible endpoint, ``AWS_ALLOW_HTTP=true`` for a plain-HTTP one), read by
pyarrow for writes and listings and by polars for scans. A local file is written to a temporary name
and renamed; an object is published whole when its upload completes, so neither leaves half a file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pyarrow.fs as pafs


class Storage:
    def __init__(self, root: str | Path) -> None:
        text = str(root)
        self.is_local = "://" not in text or text.startswith("file://")
        self.fs: pafs.FileSystem
        if self.is_local:
            self.root = Path(text.removeprefix("file://")).resolve().as_posix()
            self.fs, self._base = pafs.LocalFileSystem(), self.root
        else:
            self.root = text.rstrip("/")
            self.fs, self._base = pafs.FileSystem.from_uri(self.root)

    def url(self, *parts: str) -> str:
        """A location under the root as polars and DuckDB read it (a path, or the store's URL)."""
        return "/".join([self.root, *parts])

    def _path(self, *parts: str) -> str:
        return "/".join([self._base, *parts])

    def exists(self, *parts: str) -> bool:
        return bool(self.fs.get_file_info(self._path(*parts)).type != pafs.FileType.NotFound)

    def files(self, *parts: str, suffix: str = "") -> list[str]:
        """Every file under a location (recursively) whose name ends with ``suffix``."""
        selector = pafs.FileSelector(self._path(*parts), allow_not_found=True, recursive=True)
        return [
            info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.base_name.endswith(suffix)
        ]

    def stamps(self, *parts: str) -> dict[tuple[str, ...], tuple[int, int]]:
        """Every file under a location (recursively), by its parts relative to the root, with its
        size and modification time in ns (an object store's are to the second), from one
        listing."""
        selector = pafs.FileSelector(self._path(*parts), allow_not_found=True, recursive=True)
        return {
            self.relative(info.path): (int(info.size or 0), int(info.mtime_ns or 0))
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File
        }

    def children(self, *parts: str) -> list[str]:
        """The names of the directories (an object store's common prefixes) right under a location."""
        selector = pafs.FileSelector(self._path(*parts), allow_not_found=True)
        return [
            info.base_name
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory
        ]

    def relative(self, path: str) -> tuple[str, ...]:
        """The parts of a path ``files`` returned, relative to the root."""
        return tuple(path.removeprefix(self._base + "/").split("/"))

    def size(self, *parts: str) -> int:
        return int(self.fs.get_file_info(self._path(*parts)).size or 0)

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open_input_stream(self._path(*parts)) as stream:
            return bytes(stream.readall())

    def write(self, parts: tuple[str, ...], fill: Callable[[BinaryIO], object]) -> str:
        """Write one file, whole or not at all: ``fill`` writes its bytes to the stream it gets."""
        final = self._path(*parts)
        if not self.is_local:
            with self.fs.open_output_stream(final) as stream:
                fill(stream)
            return final
        self.fs.create_dir(self._path(*parts[:-1]), recursive=True)
        draft = self._path(*parts[:-1], f".{parts[-1]}.{uuid.uuid4().hex}.tmp")
        try:
            with self.fs.open_output_stream(draft) as stream:
                fill(stream)
            self.fs.move(draft, final)  # rename: atomic on one file system
        finally:
            if self.exists(*parts[:-1], Path(draft).name):
                self.fs.delete_file(draft)
        return final

    def write_bytes(self, parts: tuple[str, ...], data: bytes) -> str:
        return self.write(parts, lambda stream: stream.write(data))

    def delete_dir(self, *parts: str) -> None:
        if self.exists(*parts):
            self.fs.delete_dir(self._path(*parts))
