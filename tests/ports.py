"""Loopback ports for tests, held rather than released before use.

A port found free and then closed can be taken by any other process (another test, another
session) before the server meant for it binds, or before a "dead" endpoint is called. A held
port is bound with ``SO_REUSEADDR`` and never listens: connecting to it is refused, the kernel
hands it to no one binding port 0, and a server that binds with ``SO_REUSEADDR`` (asyncio and
aiohttp, uvicorn, ZeroMQ: Locust's master) can still listen on it while it is held.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator

HOST = "127.0.0.1"


@contextlib.contextmanager
def held_port() -> Iterator[int]:
    """A loopback port nobody else gets while the block runs; nothing answers on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def dead_url() -> Iterator[str]:
    """An OpenAI-style base URL whose connections are refused while the block runs."""
    with held_port() as port:
        yield f"http://{HOST}:{port}/v1"
