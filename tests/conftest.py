"""Shared fixtures: the benchmark data mirror and the real embedded model server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from ports import dead_url, held_port

from hawkeye_bench.serve.embedded import LocalModelServer

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"

os.environ.setdefault("HAWKEYE_DATA_DIR", str(DEFAULT_DATA_DIR))
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A serve client key in the developer's shell would make every test's serve ask for it.
os.environ.pop("HAWKEYE_SERVE_KEY", None)

# The session fails if a process it started is still running at its end (tests/process_leaks.py);
# pytester runs such sessions in tests of the check.
pytest_plugins = ("process_leaks", "pytester")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["HAWKEYE_DATA_DIR"])
    if not (path / "gsm8k" / "test.jsonl").is_file():
        pytest.fail(f"benchmark data mirror not found at {path} (set HAWKEYE_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalModelServer]:
    """The real llama-cpp-python server with SmolLM2-135M, started once per test session.

    It fails (not skips) when the `local` extra is missing: CI installs it, and a silent skip
    would hide the real-server tests.
    """
    with LocalModelServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for talking to in-process servers."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def loopback_port() -> Iterator[int]:
    """A loopback port held for the test (tests/ports.py): nothing answers on it and no other
    process gets it, yet the test's own server may listen on it."""
    with held_port() as port:
        yield port


@pytest.fixture
def dead_base_url() -> Iterator[str]:
    """A base URL whose connections are refused for the whole test."""
    with dead_url() as url:
        yield url
