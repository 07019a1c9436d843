"""The file source: cryo output and CSV/Parquet exports (Dune-style columns) as a ChainSource."""

from softliq_core.sources.files.columns import MissingColumnError
from softliq_core.sources.files.source import FilesConfig, FileSource, FileSourceError

__all__ = ["FileSource", "FileSourceError", "FilesConfig", "MissingColumnError"]
