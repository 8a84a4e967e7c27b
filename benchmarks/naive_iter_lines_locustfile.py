"""The obvious reader, kept only as the fidelity benchmark's "what goes wrong" comparison.

Same user, requests and raw records as ``hawkeye_bench/load/locustfile.py``, but the stream is
read the way ``FastHttpSession.iter_lines()`` does it: ``iter_content(chunk_size=1024)``, which
blocks until 1024 bytes are buffered, then split into lines. Never use it to
measure anything.
"""

from __future__ import annotations

import time
from typing import Any

from hawkeye_bench.load import locustfile as measured
from hawkeye_bench.load.stream import StreamMeter


class IterLinesUser(measured.ChatStreamUser):
    def read_stream(self, response: Any, meter: StreamMeter) -> None:
        pending = b""
        try:
            for block in response.iter_content(chunk_size=1024, decode_content=True):
                pending += block.encode() if isinstance(block, str) else block
                *lines, pending = pending.split(b"\n")
                t_recv = time.perf_counter()
                for line in lines:
                    if meter.feed(line, t_recv):
                        return
        except Exception as exc:
            meter.error = f"stream error: {type(exc).__name__}: {exc}"[:500]
