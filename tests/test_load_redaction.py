"""An upstream that echoes the API key in its error bodies: `load` stores the key nowhere (raw
records, results, tables, Locust's CSV and log)."""

from __future__ import annotations

import argparse
import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hawkeye_bench.commands import load as load_command
from hawkeye_bench.commands.load import SERVE_KEY_ENV, target_key_env
from hawkeye_bench.core.secrets import REDACTED
from hawkeye_bench.load.records import read_requests
from hawkeye_bench.load.runner import log_tail

pytestmark = pytest.mark.slow
KEY_ENV = "HAWKEYE_TEST_LOAD_KEY"
KEY = "hawkeye-test-key-0123456789abcdef"  # not a provider shape: only the read key redacts it


def cli_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hawkeye-bench")
    load_command.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


class EchoingUpstream(BaseHTTPRequestHandler):
    """Rejects stream_options once, then fails every request with the Authorization header in
    the error: alternately an HTTP 401 body and an SSE error event mid-stream."""

    protocol_version = "HTTP/1.1"
    counter = itertools.count()

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        models = {"object": "list", "data": [{"id": "echo", "object": "model"}]}
        self._send(200, json.dumps(models).encode(), "application/json")

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        if "stream_options" in request:
            error = {"error": {"message": f"stream_options not allowed for {auth}"}}
            self._send(400, json.dumps(error).encode(), "application/json")
        elif next(self.counter) % 2:
            error = {"error": {"message": f"invalid api key: {auth}"}}
            self._send(401, json.dumps(error).encode(), "application/json")
        else:
            role = {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}
            error = {"error": {"message": f"upstream refused key {auth}", "code": 500}}
            body = f"data: {json.dumps(role)}\n\ndata: {json.dumps(error)}\n\n"
            self._send(200, body.encode(), "text/event-stream")


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingUpstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("variable", "flags"),
    [
        (KEY_ENV, ["--api-key-env", KEY_ENV]),
        (KEY_ENV, ["--target-key-env", KEY_ENV]),
        (SERVE_KEY_ENV, []),  # the key `serve` requires is sent by default when it is set
    ],
)
def test_echoed_api_key_is_stored_nowhere(
    tmp_path: Path,
    echo_url: str,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    flags: list[str],
) -> None:
    monkeypatch.delenv(SERVE_KEY_ENV, raising=False)
    monkeypatch.setenv(variable, KEY)
    out = tmp_path / "out"
    code = cli_main(
        ["load", "--target", f"echo={echo_url}", "--concurrency", "2", "--requests", "4",
         "--model", "echo", "--prompt-limit", "2", "--max-tokens", "8",
         "--max-error-rate", "0.9", *flags, "--out", str(out)]
    )  # fmt: skip
    assert code == 1  # nothing succeeded
    results = json.loads((out / "load_results.json").read_text())
    assert results["plan"]["api_key_env"] == variable  # the variable's name, never its value
    (stage,) = results["stages"]
    records = read_requests(Path(stage["raw_dir"]))
    errors = [r.error or "" for r in records]
    assert any(e.startswith("HTTP 401") for e in errors)
    assert any("upstream refused key" in e for e in errors)
    assert all(REDACTED in e for e in errors)
    log = Path(stage["locust_log"])
    assert "stream_options" in log.read_text()  # the rejection warning was logged
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) >= 6
    leaked = [str(p) for p in files if KEY in p.read_text(errors="replace")]
    assert leaked == []
    assert KEY not in log_tail(log)


def test_the_target_key_variable_defaults_to_serves_when_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SERVE_KEY_ENV, raising=False)
    assert target_key_env(None) == ""  # no key sent
    assert target_key_env("MY_KEY") == "MY_KEY"
    monkeypatch.setenv(SERVE_KEY_ENV, KEY)
    assert target_key_env(None) == SERVE_KEY_ENV
    assert target_key_env("MY_KEY") == "MY_KEY"  # a name given wins
