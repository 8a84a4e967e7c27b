"""Who may use ``hawkeye-bench serve``: one client key, sent as a bearer token.

The server forwards every request with the user's own upstream keys, so anyone who reaches its
port spends on them. With a client key configured, every request but ``GET /health`` must carry
``Authorization: Bearer <key>`` (as vLLM's ``--api-key``); any other is answered with an
OpenAI-style 401. The key is read from an environment variable, never from a flag (a flag's
value shows in ``ps``); it is remembered for redaction and never logged, traced or returned,
and the comparison takes the same time wherever a presented key differs.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import socket

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import remember_secret

#: The variable ``serve`` reads the client key from unless ``--client-key-env`` names another.
DEFAULT_CLIENT_KEY_ENV = "HAWKEYE_SERVE_KEY"
#: Paths answered without a client key (a liveness probe must not need a secret).
OPEN_PATHS = frozenset({"/health"})
#: Shortest client key accepted: a key is the only thing between the port and the user's bill.
MIN_CLIENT_KEY_CHARS = 8


class ClientKeyError(HawkeyeError):
    """The client key's environment variable is missing, empty, too short or unsendable."""


def client_key_from_env(variable: str | None = None) -> str | None:
    """The client key in ``variable`` (None: :data:`DEFAULT_CLIENT_KEY_ENV`, which may be unset:
    no client key). A variable named explicitly must be set. The key must be at least
    :data:`MIN_CLIENT_KEY_CHARS` visible ASCII characters (an HTTP header carries it)."""
    name = variable or DEFAULT_CLIENT_KEY_ENV
    key = os.environ.get(name)
    if key is None and variable is None:
        return None
    fix = f'e.g. export {name}="$(python -c "import secrets; print(secrets.token_urlsafe(32))")"'
    if not key:
        state = "is not set" if key is None else "is empty"
        raise ClientKeyError(f"client key: environment variable {name} {state}; {fix}")
    if len(key) < MIN_CLIENT_KEY_CHARS or not all("!" <= c <= "~" for c in key):
        raise ClientKeyError(
            f"client key: environment variable {name} must hold at least {MIN_CLIENT_KEY_CHARS} "
            f"visible ASCII characters (no spaces); {fix}"
        )
    remember_secret(key)
    return key


def bearer_matches(authorization: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <key>`` (the scheme in any case).

    ``hmac.compare_digest`` takes the same time wherever the two differ, so the time of a
    refusal does not tell how much of a guess was right.
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    presented = token.strip().encode("utf-8", "backslashreplace")
    expected = key.encode()
    return hmac.compare_digest(presented, expected) and scheme.lower() == "bearer"


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address (False when it does
    not resolve: a warning too many beats one missed)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return bool(addresses) and all(address.is_loopback for address in addresses)


def unprotected_warning(host: str, port: int, variable: str) -> str | None:
    """The warning for serving on ``host`` without a client key, or None on loopback."""
    if is_loopback(host):
        return None
    return (
        f"serving on {host}:{port} with no client key: anyone who can reach this port can send "
        f"requests, and every request spends on the upstream API keys; set {variable} "
        "(clients then send 'Authorization: Bearer <key>') or bind to 127.0.0.1"
    )
