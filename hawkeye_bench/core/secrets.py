"""API keys: read only from environment variables, and kept out of everything we write.

Every key the process reads through :func:`api_key_from_env` is remembered, so that
:func:`redact` can remove it from any text before it is stored, logged or returned (an upstream
may echo the key in an error body). Key-shaped tokens of the usual providers (``sk-...``,
``xai-...``) are removed as well, whoever sent them.
"""

from __future__ import annotations

import os
import re

from hawkeye_bench.core.errors import HawkeyeError

REDACTED = "[redacted]"
#: Provider key shapes, redacted even when we never read the key ourselves.
_KEY_PATTERN = re.compile(r"\b(?:sk|xai)-[A-Za-z0-9_\-*]{4,}")
#: Keys shorter than this are not replaced verbatim (a 2-letter "key" would shred every text).
_MIN_SECRET_CHARS = 6

_known_secrets: set[str] = set()


class MissingApiKey(HawkeyeError):
    """The environment variable an endpoint or judge names for its API key is not set."""


def remember_secret(value: str | None) -> None:
    """Add ``value`` to the texts :func:`redact` removes."""
    if value and len(value) >= _MIN_SECRET_CHARS:
        _known_secrets.add(value)


def api_key_from_env(variable: str, owner: str) -> str:
    """The API key in environment variable ``variable``; MissingApiKey names ``owner`` and the
    variable (never a value) when it is unset or empty."""
    key = os.environ.get(variable)
    if not key:
        raise MissingApiKey(f"{owner}: environment variable {variable} (api_key_env) is not set")
    remember_secret(key)
    return key


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every known key (and ``secrets``) replaced by ``[redacted]``."""
    for secret in sorted({*_known_secrets, *(s for s in secrets if s)}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _KEY_PATTERN.sub(REDACTED, text)
