"""What can go wrong talking to a JSON-RPC provider, classified so the client knows what to do.

* transient (429, 5xx, timeouts, dropped connections, rate-limit messages): back off and retry;
* range refused (``eth_getLogs`` over too many blocks or with too many results): split the range,
  using the range or the limit the provider suggests in its message when it gives one;
* batch too large: send smaller batches;
* anything else is fatal and stops the run.

Every message is built from redacted text: the endpoint URL usually carries an API key.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any
from urllib.parse import quote, urlsplit


class RpcError(Exception):
    """A provider failure. Its message never contains the endpoint URL or its key."""


class RpcTransientError(RpcError):
    """Worth retrying after a pause (at least ``retry_after`` seconds when the provider says so)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RpcRangeError(RpcError):
    """``eth_getLogs`` refused the range: too many blocks (``kind="blocks"``) or results."""

    def __init__(
        self,
        message: str,
        kind: str,
        suggested: tuple[int, int] | None = None,
        max_blocks: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.suggested = suggested
        self.max_blocks = max_blocks


class RpcBatchTooLargeError(RpcError):
    """The provider refuses batches of this size."""


class RpcRetriesExhaustedError(RpcError):
    """A call kept failing transiently past the configured number of attempts."""


# -- redaction ------------------------------------------------------------------------------------

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def redacted_url(url: str) -> str:
    """``https://host[:port]/<redacted>``: what may be shown of an endpoint URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
        scheme = parts.scheme or "http"
    except ValueError:
        return "<redacted url>"
    return f"{scheme}://{host}{port}/<redacted>"


def _secret_pieces(url: str) -> set[str]:
    """The URL and every part of it that may carry a key: path, query, user info, long segments."""
    pieces = {url, url.rstrip("/")}
    try:
        parts = urlsplit(url)
    except ValueError:
        return pieces
    without_scheme = url.split("://", 1)[-1]
    pieces.add(without_scheme)
    candidates = [parts.path, parts.query, parts.fragment, parts.username, parts.password]
    candidates += parts.path.split("/")
    candidates += [kv.split("=", 1)[-1] for kv in parts.query.split("&")]
    for candidate in candidates:
        if candidate and len(candidate.strip("/")) >= 6:  # short segments (v2, rpc) are no secret
            pieces.add(candidate)
            pieces.add(quote(candidate))
    return {p for p in pieces if p and p != "/"}


class Redactor:
    """Removes one endpoint's URL and its secret parts from text; registers them for log filtering."""

    def __init__(self, url: str) -> None:
        self.shown = redacted_url(url)
        # Longest first, so the whole URL is replaced before its parts are.
        self._pieces = sorted(_secret_pieces(url), key=len, reverse=True)
        with _SECRETS_LOCK:
            _SECRETS.update(self._pieces)
        install_log_redaction()

    def __call__(self, text: str) -> str:
        for piece in self._pieces:
            if piece in text:
                text = text.replace(piece, self.shown if "://" in piece else "<redacted>")
        return text


def redact_all(text: str) -> str:
    """Remove every registered endpoint secret from ``text``."""
    with _SECRETS_LOCK:
        pieces = sorted(_SECRETS, key=len, reverse=True)
    for piece in pieces:
        if piece in text:
            text = text.replace(piece, "<redacted>")
    return text


class RedactingFilter(logging.Filter):
    """Rewrites log records that would show an endpoint URL or key (urllib3 logs request paths)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is not ours to fix
            return True
        clean = redact_all(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_FILTER = RedactingFilter()
# Loggers that may print the URL of a request: ours, web3's providers, urllib3's connection pool.
_FILTERED_LOGGERS = (
    "softliq_core.sources.rpc",
    "web3.providers.HTTPProvider",
    "web3._utils.http_session_manager.HTTPSessionManager",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.util.retry",
    "requests",
)


def install_log_redaction() -> None:
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


# -- classification -------------------------------------------------------------------------------

_RATE_LIMITED = re.compile(
    r"rate.?limit|too many requests|requests per second|compute units|capacity|throughput"
    r"|request count exceeded|quota|try again|temporarily|timed? ?out|timeout|header not found"
    r"|unknown block|busy|overloaded|internal error|service unavailable|bad gateway",
    re.IGNORECASE,
)
_TOO_MANY_RESULTS = re.compile(
    r"more than [\d,]+ results|too many (results|logs)|response size|result(s)? (limit|size)"
    r"|max(imum)? results|logs? matched by query exceed|results? exceed",
    re.IGNORECASE,
)
_RANGE_TOO_LARGE = re.compile(
    r"block range|range too (large|wide)|range is too|too many blocks|limited to a [\d,]+"
    r"|max(imum)? (block )?range|range limit|range exceed|exceed(s|ed)? (the )?max(imum)? (block )?range"
    r"|requested blocks|blocks range|range should work",
    re.IGNORECASE,
)
_BATCH_TOO_LARGE = re.compile(
    r"batch (size |limit )?(too large|exceed)|exceeds? (the )?(max(imum)? )?batch|batch limit"
    r"|too many (requests|calls) in (the )?batch",
    re.IGNORECASE,
)
_HEX_RANGE = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
_DEC_RANGE = re.compile(r"(?:retry with|use|try)(?: the)? range\s*\[?\s*(\d+)\s*[-,]\s*(\d+)")
_MAX_BLOCKS = re.compile(
    r"(?:up to an?|limited to an?|max(?:imum)?(?: block)? range(?: is| of)?:?"
    r"|range limit(?: of| is)?:?|number of requested blocks is|exceed(?:s|ed)? max(?:imum)? "
    r"block range:?)\s*([\d,]+)\s*(k\b)?",
    re.IGNORECASE,
)


def _suggested_range(message: str, data: Any) -> tuple[int, int] | None:
    if isinstance(data, dict) and "from" in data and "to" in data:  # Infura puts it in data
        try:
            return int(str(data["from"]), 0), int(str(data["to"]), 0)
        except ValueError:
            pass
    found = _HEX_RANGE.search(message)
    if found:
        return int(found.group(1), 16), int(found.group(2), 16)
    found = _DEC_RANGE.search(message)
    if found:
        return int(found.group(1)), int(found.group(2))
    return None


def _max_blocks(message: str) -> int | None:
    found = _MAX_BLOCKS.search(message)
    if not found:
        return None
    value = int(found.group(1).replace(",", ""))
    return value * 1000 if found.group(2) else value


def classify_rpc_error(error: Any, method: str, redact: Redactor | None = None) -> RpcError:
    """Turn a JSON-RPC ``error`` object into the exception that tells the caller what to do."""
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = error.get("code")
    raw_message = str(error.get("message", ""))
    message = redact(raw_message) if redact else redact_all(raw_message)
    data = error.get("data")
    text = f"{method}: provider error {code}: {message}"
    if method == "batch" and _BATCH_TOO_LARGE.search(message):
        return RpcBatchTooLargeError(text)
    if method == "eth_getLogs":
        suggested = _suggested_range(message, data)
        if _TOO_MANY_RESULTS.search(message):
            return RpcRangeError(text, "results", suggested, None)
        if _RANGE_TOO_LARGE.search(message) or (suggested and code in (-32005, -32602)):
            return RpcRangeError(text, "blocks", suggested, _max_blocks(message))
    if _BATCH_TOO_LARGE.search(message):
        return RpcBatchTooLargeError(text)
    if code == 429 or _RATE_LIMITED.search(message):
        return RpcTransientError(text)
    return RpcError(text)
