"""``RestClient``: one pooled HTTP client of an mlops server, with retries and real errors.

- Connection failures, timeouts, dropped connections and 502/503/504 answers are retried with
  exponential backoff and jitter (``client.max_retries``, ``client.backoff``,
  ``client.max_backoff``), then raised as ``BackendUnavailableError``.
- A write that is not idempotent by itself carries an ``Idempotency-Key`` generated once per
  call and reused by its retries, so the server runs it once however often it is sent.
- An error answer is rebuilt as the ``mlops.errors`` class its body names (falling back to the
  class of its HTTP status), so ``except mlops.NotFoundError`` works as it does locally.
- With a token (``MLOPS_TRACKING_TOKEN``), every request carries ``Authorization: Bearer``.
  A 401 or 403 is never retried: it is an ``AuthenticationError`` or ``PermissionDeniedError``
  whose message (the server's) says what to do.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from mlops import errors
from mlops.config import ClientSettings
from mlops.server.schemas import ERROR_TYPES_BY_STATUS

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({502, 503, 504})
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Failures that say nothing about the request itself: the same request may succeed later.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class _RetryableStatus(Exception):
    """A 502/503/504 answer, raised inside an attempt so the retry loop sees it."""

    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class RestClient:
    """HTTP to one mlops server: a shared connection pool, retries, and error translation.

    Args:
        base_url: ``http(s)://host:port`` of the server.
        settings: Timeout and retry policy.
        token: API token of a server run with ``--auth``.
        transport: An ``httpx`` transport to use instead of the network (tests).
    """

    def __init__(
        self,
        base_url: str,
        settings: ClientSettings | None = None,
        *,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.settings = settings or ClientSettings()
        headers = {"User-Agent": "mlops-client"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(self.settings.timeout, connect=min(self.settings.timeout, 10.0)),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            headers=headers,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"RestClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    # --- requests ------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: Callable[[], Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        once: bool = False,
        retry: bool = True,
    ) -> httpx.Response:
        """Send a request, retrying transient failures; raise the server's error as ours.

        Args:
            json_body: A JSON-serializable body (floats must be finite; see ``encode_float``).
            content: Makes a fresh byte stream for each attempt (an upload body).
            once: Send an ``Idempotency-Key`` (one per call, the same for every retry).
            retry: False for a body that cannot be produced twice.
        """
        all_headers = dict(headers or {})
        if once:
            all_headers[IDEMPOTENCY_HEADER] = uuid.uuid4().hex
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body, allow_nan=False, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"

        def attempt() -> httpx.Response:
            body: bytes | Iterable[bytes] | None = data if content is None else content()
            response = self._http.request(
                method, path, params=params, content=body, headers=all_headers
            )
            return self._check(response)

        return self.retrying(attempt, what=f"{method} {path}", retry=retry)

    @contextmanager
    def stream(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives (one attempt; wrap in ``retrying``)."""
        with self._http.stream(method, path, params=params) as response:
            if response.is_error:
                response.read()
                self._check(response)
            yield response

    def retrying(self, attempt: Callable[[], T], *, what: str, retry: bool = True) -> T:
        """``attempt()``, retried with exponential backoff while it fails transiently."""
        retries = self.settings.max_retries if retry else 0
        for number in range(retries + 1):
            try:
                return attempt()
            except _RetryableStatus as exc:
                if number == retries:
                    raise rebuild_error(exc.response) from None
                failure: str = f"HTTP {exc.response.status_code}"
            except _TRANSIENT as exc:
                if number == retries:
                    raise errors.BackendUnavailableError(
                        f"mlops server {self.base_url} did not answer {what} after "
                        f"{number + 1} attempt(s): {type(exc).__name__}: {exc}"
                    ) from exc
                failure = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPError as exc:  # a bad URL or protocol: retrying cannot help
                raise errors.ConfigError(
                    f"cannot talk to mlops server {self.base_url}: {type(exc).__name__}: {exc}"
                ) from exc
            delay = self._delay(number)
            log.warning("%s failed (%s); retry %d in %.2fs", what, failure, number + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, number: int) -> float:
        base = min(self.settings.max_backoff, self.settings.backoff * 2.0**number)
        return base * (0.5 + random.random() / 2)  # jitter: clients restarted together spread out

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code in RETRY_STATUSES:
            raise _RetryableStatus(response)
        if response.is_error:
            raise rebuild_error(response)
        return response


def rebuild_error(response: httpx.Response) -> errors.MLOpsError:
    """The ``mlops.errors`` instance an error response describes."""
    kind, message = None, None
    try:
        body = response.json()["error"]
        kind, message = str(body["type"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        pass
    cls = getattr(errors, kind, None) if kind else None
    if not (isinstance(cls, type) and issubclass(cls, errors.MLOpsError)):
        cls = ERROR_TYPES_BY_STATUS.get(response.status_code, errors.MLOpsError)
    if message is None:
        text = response.text[:500] or response.reason_phrase
        message = f"mlops server answered {response.status_code}: {text}"
        message += _HINTS.get(response.status_code, "")
    return cls(message)


_HINTS = {
    401: "; set MLOPS_TRACKING_TOKEN to a valid API token (an admin makes one with "
    "`mlops tokens create USER`)",
    403: "; ask an admin for the role (`mlops grant USER ROLE [--experiment ID | --model NAME]`)",
}
"""What to do about a 401 or 403 whose body (from a proxy, say) does not say it."""
