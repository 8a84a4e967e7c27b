"""A load user's pause after a request that got no response (connection refused, reset or timed
out), so that a dead target is not hammered in a busy loop. Without Locust: tests import it."""

from __future__ import annotations

BACKOFF_FIRST_S = 0.1  # a user's first pause after a request that got no response
BACKOFF_MAX_S = 2.0


def next_backoff(backoff_s: float, no_response: bool) -> float:
    """The pause before a user's next request: doubling from BACKOFF_FIRST_S up to
    BACKOFF_MAX_S while its requests get no response; none once a response came."""
    if not no_response:
        return 0.0
    return min(max(2 * backoff_s, BACKOFF_FIRST_S), BACKOFF_MAX_S)
