"""A polite JSON-RPC client over web3's ``HTTPProvider``: rate limit, retries, batches, redaction.

web3 encodes requests, owns the HTTP session and sorts batch responses by id; this module adds what a
long backfill against a commercial provider needs:

* a requests-per-second limit (a batch of n calls counts n: providers bill per call);
* exponential backoff with jitter on 429, 5xx, timeouts and dropped connections, never shorter than
  the provider's ``Retry-After``, up to ``max_attempts`` per call;
* batches split to ``batch_size``, halved when the provider refuses the size, and only the failed
  items of a batch retried;
* every exception and log line redacted: the URL and its key never leave this module.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from softliq_core.sources.rpc.errors import (
    Redactor,
    RpcBatchTooLargeError,
    RpcError,
    RpcRangeError,
    RpcRetriesExhaustedError,
    RpcTransientError,
    classify_rpc_error,
)

log = logging.getLogger("softliq_core.sources.rpc")

Call = tuple[str, Sequence[Any]]


@dataclass(frozen=True, slots=True)
class ClientSettings:
    timeout: float = 30.0  # seconds per HTTP request
    requests_per_second: float = 10.0  # JSON-RPC calls per second (a batch of n counts n)
    max_attempts: int = 8  # per call, including the first
    backoff_base: float = 0.5  # seconds; doubles per attempt, jittered
    backoff_max: float = 30.0
    max_retry_after: float = 120.0  # a provider's Retry-After is honoured up to this
    batch_size: int = 100
    jitter_seed: int | None = None


class _RateLimiter:
    """Spaces calls ``1/rate`` seconds apart on average (thread-safe reservation of start times)."""

    def __init__(
        self, rate: float, sleep: Callable[[float], None], clock: Callable[[], float]
    ) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._next = clock()
        self._lock = threading.Lock()
        self._sleep = sleep

    def acquire(self, calls: int = 1) -> None:
        if self._interval == 0.0:
            return
        with self._lock:
            now = self._clock()
            start = max(now, self._next)
            self._next = start + calls * self._interval
        if start > now:
            self._sleep(start - now)


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RpcClient:
    """JSON-RPC calls with retries; ``stats`` counts requests, calls, retries and their causes."""

    def __init__(
        self,
        url: str,
        settings: ClientSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``sleep`` and ``clock`` pace the calls (a test passes its own: no real waiting)."""
        self.settings = settings or ClientSettings()
        self.redact = Redactor(url)
        self.endpoint = self.redact.shown
        # web3 is imported with the first client, not with this module: its import takes most of a
        # second, which every pipeline process would pay though few of them ever make a client.
        from softliq_core.sources.rpc.provider import RedactedProvider

        self._provider = RedactedProvider(url, self.redact, self.settings.timeout)
        self._sleep = sleep
        self._limiter = _RateLimiter(self.settings.requests_per_second, sleep, clock)
        self._rng = random.Random(self.settings.jitter_seed)
        self.batch_size = max(1, self.settings.batch_size)
        self.stats: Counter[str] = Counter()
        self.before_request: Callable[[], None] | None = None  # a hook (tests use it to kill runs)

    def __repr__(self) -> str:
        return f"RpcClient({self.endpoint})"

    # -- one HTTP request ------------------------------------------------------------------------

    def _transport_error(self, exc: requests.RequestException, what: str) -> RpcError:
        kind = type(exc).__name__
        if isinstance(exc, requests.HTTPError):
            response = exc.response
            status = response.status_code if response is not None else 0
            self.stats[f"http_{status}"] += 1
            body: Any = None
            if response is not None:
                try:
                    body = response.json()
                except ValueError:
                    body = None
            detail = ""
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                classified = classify_rpc_error(body["error"], what, self.redact)
                if isinstance(classified, RpcTransientError):
                    classified.retry_after = _retry_after(response)
                    return classified
                if isinstance(classified, RpcRangeError | RpcBatchTooLargeError):
                    return classified
                detail = f" ({classified})"
            message = f"{what}: HTTP {status} from {self.endpoint}"
            if status in (408, 425, 429) or status >= 500:
                return RpcTransientError(message, _retry_after(response))
            return RpcError(message + detail)
        if isinstance(exc, requests.Timeout):
            self.stats["timeout"] += 1
            return RpcTransientError(
                f"{what}: no answer from {self.endpoint} within {self.settings.timeout} s ({kind})"
            )
        if isinstance(
            exc,
            requests.ConnectionError
            | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError,
        ):
            self.stats["connection_error"] += 1
            return RpcTransientError(f"{what}: connection to {self.endpoint} failed ({kind})")
        return RpcError(f"{what}: request to {self.endpoint} failed ({kind})")

    def _send(self, what: str, send: Callable[[], Any]) -> Any:
        """One HTTP request; failures come back as redacted ``RpcError``s with no chained cause."""
        if self.before_request is not None:
            self.before_request()
        self.stats["requests"] += 1
        error: RpcError
        try:
            return send()
        except requests.RequestException as exc:
            error = self._transport_error(exc, what)
        except ValueError as exc:  # web3 could not decode the body as JSON
            self.stats["malformed"] += 1
            error = RpcTransientError(
                f"{what}: malformed response from {self.endpoint} ({type(exc).__name__})"
            )
        # Raised outside the except blocks: no __context__ carrying the URL.
        raise error

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2.0**attempt)
        delay = ceiling * (0.5 + 0.5 * self._rng.random())  # "equal jitter"
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.max_retry_after))
        return delay

    def _pause(self, what: str, attempt: int, error: RpcTransientError) -> None:
        if attempt + 1 >= self.settings.max_attempts:
            raise RpcRetriesExhaustedError(
                f"{what}: gave up after {attempt + 1} attempts; last error: {error}"
            )
        delay = self._backoff(attempt, error.retry_after)
        self.stats["retries"] += 1
        log.info("%s; retrying in %.2f s (attempt %d)", error, delay, attempt + 2)
        self._sleep(delay)

    # -- calls ------------------------------------------------------------------------------------

    def call(self, method: str, params: Sequence[Any]) -> Any:
        """One call, retried on transient failures; range and fatal errors are raised at once."""
        attempt = 0
        while True:
            self._limiter.acquire(1)
            self.stats["calls"] += 1
            try:
                response = self._send(method, lambda: self._provider.request(method, params))
                if not isinstance(response, dict):
                    raise RpcTransientError(f"{method}: unexpected response shape")
                if "error" in response:
                    raise classify_rpc_error(response["error"], method, self.redact)
                if "result" not in response:
                    raise RpcTransientError(f"{method}: response without a result")
                return response["result"]
            except RpcTransientError as error:
                self._pause(method, attempt, error)
                attempt += 1

    def batch(
        self,
        calls: Sequence[Call],
        valid: Callable[[int, Any], bool] | None = None,
        tolerate: bool = False,
    ) -> list[Any]:
        """Results of ``calls`` in order, sent in batches; failed items are retried alone.

        ``valid(i, result)`` rejects a result as transient (e.g. a block the node does not have yet).
        With ``tolerate``, a call that fails for good yields its ``RpcError`` instead of raising.
        """
        results: list[Any] = [None] * len(calls)
        attempts = [0] * len(calls)
        pending = list(range(len(calls)))
        while pending:
            chunk = pending[: self.batch_size]
            self._limiter.acquire(len(chunk))
            self.stats["calls"] += len(chunk)
            try:
                responses = self._send_batch([calls[i] for i in chunk])
            except RpcBatchTooLargeError as error:
                if len(chunk) == 1:
                    raise
                self.batch_size = max(1, len(chunk) // 2)
                log.info("%s; batches of %d from now on", error, self.batch_size)
                continue
            except RpcTransientError as error:
                self._pause("batch", max(attempts[i] for i in chunk), error)
                for i in chunk:
                    attempts[i] += 1
                continue
            failed: list[int] = []
            last_error: RpcTransientError | None = None
            for i, response in zip(chunk, responses, strict=True):
                method = calls[i][0]
                problem: RpcError
                if isinstance(response, dict) and "error" in response:
                    problem = classify_rpc_error(response["error"], method, self.redact)
                elif not isinstance(response, dict) or "result" not in response:
                    problem = RpcTransientError(f"{method}: response without a result")
                elif valid is not None and not valid(i, response["result"]):
                    problem = RpcTransientError(f"{method}: result not available yet")
                else:
                    results[i] = response["result"]
                    continue
                if isinstance(problem, RpcTransientError):
                    failed.append(i)
                    last_error = problem
                elif tolerate:
                    results[i] = problem
                else:
                    raise problem
            pending = failed + pending[len(chunk) :]
            if last_error is not None:
                self.stats["failed_items"] += len(failed)
                self._pause("batch", max(attempts[i] for i in failed), last_error)
                for i in failed:
                    attempts[i] += 1
        return results

    def _send_batch(self, calls: Sequence[Call]) -> list[Any]:
        responses = self._send("batch", lambda: self._provider.batch_request(calls))
        if isinstance(responses, dict):  # the whole batch refused with one error object
            raise classify_rpc_error(responses.get("error", responses), "batch", self.redact)
        if not isinstance(responses, list) or len(responses) != len(calls):
            got = len(responses) if isinstance(responses, list) else "no list of"
            raise RpcTransientError(f"batch: {got} responses to {len(calls)} calls")
        return responses
