"""web3's ``HTTPProvider`` as the RPC client uses it: no retries of its own and no URL in its string
form or its debug log. Imported only when a client is made (``RpcClient``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import requests
from web3 import HTTPProvider
from web3.types import RPCEndpoint

from softliq_core.sources.rpc.errors import Redactor


class _RedactingLog:
    """Stands in for web3's provider logger: formats lazily, then redacts."""

    def __init__(self, redact: Redactor) -> None:
        self._redact = redact
        self._log = logging.getLogger("softliq_core.sources.rpc.provider")

    def debug(self, msg: str, *args: Any, **_: Any) -> None:
        if self._log.isEnabledFor(logging.DEBUG):
            text = msg % args if args else msg
            self._log.debug(self._redact(text[:500]))


class RedactedProvider(HTTPProvider):
    """web3's HTTPProvider without its own retries (ours honour Retry-After) and without the URL in
    its string form or its debug log."""

    def __init__(self, url: str, redact: Redactor, timeout: float) -> None:
        super().__init__(
            url,
            request_kwargs={"timeout": timeout},
            session=requests.Session(),
            exception_retry_configuration=None,
        )
        self._shown = redact.shown
        self.logger = _RedactingLog(redact)  # type: ignore[assignment]

    def __str__(self) -> str:
        return f"RPC connection {self._shown}"

    def __repr__(self) -> str:
        return f"<RPC provider {self._shown}>"

    def request(self, method: str, params: Sequence[Any]) -> Any:
        return self.make_request(RPCEndpoint(method), list(params))

    def batch_request(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> Any:
        return self.make_batch_request([(RPCEndpoint(m), list(params)) for m, params in calls])
