"""The embedded model server's port: a free port is released before the server binds it, so
another process may take it first; the start then tries another port (a port given is refused
instead). Checked with a stand-in server command, no model."""

from __future__ import annotations

import socket
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hawkeye_bench.serve import embedded
from hawkeye_bench.serve.embedded import (
    LOCAL_MODEL_NAME,
    PORT_ATTEMPTS,
    LocalModelServer,
    LocalModelUnavailable,
)
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

#: Binds --port as llama-cpp's server does (an OSError "Address already in use" when it cannot)
#: and lists the embedded model's name.
STAND_IN = f"""
import http.server, json, sys
body = json.dumps({{"object": "list", "data": [{{"id": "{LOCAL_MODEL_NAME}"}}]}}).encode()
class Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Models).serve_forever()
"""


class StandInServer(LocalModelServer):
    """The embedded server's start logic around the stand-in command."""

    script: Path

    def command(self) -> list[str]:
        return [sys.executable, str(self.script), str(self.port)]


@pytest.fixture
def stand_in(tmp_path: Path) -> Iterator[type[StandInServer]]:
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    StandInServer.script = script
    yield StandInServer


@pytest.fixture
def listening_socket() -> Iterator[int]:
    """A loopback port another process holds: bound and listening, nothing answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def other_http_server() -> Iterator[int]:
    """A loopback port where another server answers GET /v1/models (with another model)."""
    with ScriptedServer(ScriptedConfig()) as url:
        yield int(urlsplit(url).port or 0)


def _first_port_is(port: int, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """free_port() gives ``port`` first (as if another process bound it right after), then
    really free ones; the list records what it gave."""
    real, given = embedded.free_port, list[int]()

    def chosen() -> int:
        given.append(port if not given else real())
        return given[-1]

    monkeypatch.setattr(embedded, "free_port", chosen)
    return given


def _models(server: LocalModelServer) -> str:
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
        return response.read().decode()


@pytest.mark.parametrize("occupant", ["listening_socket", "other_http_server"])
def test_a_port_taken_before_the_server_binds_it_is_traded_for_another(
    occupant: str,
    stand_in: type[StandInServer],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    taken = request.getfixturevalue(occupant)
    given = _first_port_is(taken, monkeypatch)
    server = stand_in(startup_timeout_s=60)
    try:
        assert server.start() == f"http://127.0.0.1:{server.port}/v1"
        assert given[0] == taken and server.port == given[-1] != taken and len(given) == 2
        assert LOCAL_MODEL_NAME in _models(server)  # the stand-in answers, not the occupant
        assert server.log_path.name == f"hawkeye-local-{server.port}.log"
    finally:
        server.stop()


def test_a_port_given_that_is_taken_is_refused_not_traded(
    stand_in: type[StandInServer], listening_socket: int
) -> None:
    server = stand_in(port=listening_socket, startup_timeout_s=60)
    with pytest.raises(LocalModelUnavailable, match="did not start: exit code 1") as refused:
        server.start()
    server.stop()
    assert "Address already in use" in str(refused.value)
    assert server.port == listening_socket


def test_a_start_gives_up_after_a_bounded_number_of_taken_ports(
    stand_in: type[StandInServer], listening_socket: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "free_port", lambda: listening_socket)
    server = stand_in(startup_timeout_s=60)
    with pytest.raises(LocalModelUnavailable) as refused:
        server.start()
    server.stop()
    ports = ", ".join([str(listening_socket)] * PORT_ATTEMPTS)
    assert f"another process took its port each time ({ports})" in str(refused.value)


def test_a_clean_stop_removes_the_servers_temp_log_and_a_chosen_log_stays(
    stand_in: type[StandInServer], tmp_path: Path
) -> None:
    server = stand_in(startup_timeout_s=60)
    server.start()
    log = server.log_path
    assert log.exists()
    server.stop()
    assert not log.exists()  # each start used to leave /tmp/hawkeye-local-<port>.log behind

    chosen = tmp_path / "server.log"
    kept = stand_in(startup_timeout_s=60, log_path=chosen)
    kept.start()
    kept.stop()
    assert chosen.exists()


def test_a_server_that_ended_by_itself_keeps_its_log_for_the_error(
    stand_in: type[StandInServer],
) -> None:
    server = stand_in(startup_timeout_s=60)
    server.start()
    assert server.process is not None
    server.process.kill()
    server.process.wait()
    assert server.exit_report() is not None
    server.stop()
    assert server.log_path.exists()
    server.log_path.unlink()
