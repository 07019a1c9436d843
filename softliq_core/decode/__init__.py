"""Raw logs → typed event tables."""

from softliq_core.decode.events import DecodedLogs, decode_logs

__all__ = ["DecodedLogs", "decode_logs"]
