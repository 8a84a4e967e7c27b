"""Why one attempt at a call failed, whether retrying may help, and how long to wait.

An attempt that fails raises :class:`AttemptFailed`, typed (``error_type``: ``http_<status>``,
``timeout``, ``connection``, ``stream_cut``, ``malformed_sse``, ``malformed_response``,
``malformed_logprobs``, ``stream_error``) and marked retryable or not; the client's retry loop
(``endpoints/client.py``) decides from it. Delays back off exponentially with jitter unless the
server names one (``Retry-After``, ``retry-after-ms``).
"""

from __future__ import annotations

import email.utils
import json
import math
import random
import time
from typing import Any

import aiohttp

from hawkeye_bench.endpoints.reply import Reply

#: Statuses worth retrying besides 5xx (as the openai SDK does).
RETRYABLE_STATUSES = frozenset({408, 409, 429})
#: A Retry-After longer than this is not waited for: the call fails with the 429/503 instead.
MAX_RETRY_AFTER_S = 120.0
#: How many characters of an error body go into StageResult.error.
ERROR_BODY_CHARS = 300
#: Content types of a web page: a completion path answering one is misconfigured, not cut.
HTML_CONTENT_TYPES = frozenset({"text/html", "application/xhtml+xml"})


class AttemptFailed(Exception):
    """One attempt failed: its error type, whether a retry may help, and what it read so far."""

    def __init__(
        self,
        error_type: str,
        message: str,
        *,
        retryable: bool,
        retry_after_s: float | None = None,
        rejects_stream_options: bool = False,
        partial: Reply | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.rejects_stream_options = rejects_stream_options
        self.partial = partial


class DeltaCallbackFailed(Exception):
    """Carries an exception raised by the caller's on_delta past the upstream error handling."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


def backoff_delay(failures: int, base_s: float, max_s: float) -> float:
    """``min(base * 2**(failures - 1), max)``, less up to a quarter of it at random (jitter)."""
    delay = min(base_s * 2 ** (failures - 1), max_s)
    return delay * (1 - 0.25 * random.random())


def parse_json(text: str | bytes) -> Any:
    """``json.loads``, with JSON nested past the recursion limit a ValueError like any other
    unparseable text (a server's reply must never raise anything else)."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deep to parse") from exc


async def body_text(response: aiohttp.ClientResponse) -> str:
    """The whole body as text: UTF-8, undecodable bytes replaced (a declared charset may be
    wrong or unknown)."""
    return (await response.read()).decode("utf-8", errors="replace")


async def http_failure(
    response: aiohttp.ClientResponse, sent_stream_options: bool
) -> AttemptFailed:
    """The failure for a reply whose status is not 200."""
    status = response.status
    try:
        body = await body_text(response)
    except aiohttp.ClientError:
        body = ""
    rejects = sent_stream_options and status in (400, 422) and "stream_options" in body
    return AttemptFailed(
        f"http_{status}",
        f"HTTP {status}: {body[:ERROR_BODY_CHARS]}",
        retryable=status >= 500 or status in RETRYABLE_STATUSES,
        retry_after_s=retry_after(response.headers),
        rejects_stream_options=rejects,
    )


async def html_page(response: aiohttp.ClientResponse) -> AttemptFailed:
    """A 200 web page where a completion was expected (a proxy's login or error page, a base
    URL that is not the API root): named as such, never taken for a cut stream."""
    try:
        start = await response.content.read(ERROR_BODY_CHARS)
        page = " ".join(start.decode(errors="replace").split())
    except aiohttp.ClientError:
        page = ""
    return AttemptFailed(
        "malformed_response",
        f"HTTP 200 with an HTML page, not an event stream ({page[:120]!r}): is base_url the "
        "API root, usually ending in /v1?",
        retryable=True,
    )


def _delay(seconds: float) -> float:
    """A server's delay, at least 0; NaN is no delay given (ValueError)."""
    if math.isnan(seconds):
        raise ValueError("NaN delay")
    return max(seconds, 0.0)


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if "retry-after-ms" in headers:
        try:
            return _delay(float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return _delay(float(value))
    except ValueError:
        pass
    try:
        return max(email.utils.parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None
