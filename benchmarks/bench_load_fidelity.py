"""Load-measurement fidelity: how exactly does the Locust harness measure a known server?

The scripted server (own process, own core) answers with TTFT 100 ms, a 20 ms gap and 64 tokens
(scheduled on absolute deadlines, each chunk stamped with its write time). The harness runs the
stock ``locust`` CLI at concurrency 100 against it; the errors against truth must stay within
the goals (TTFT p50 within 3 ms, mean TBT within 1 %, near-zero gaps < 1 %), with the client's
CPU reported. In the same run the naive ``iter_lines()`` reader measures the same server, to
show what the benchmark catches.

    .venv/bin/python benchmarks/bench_load_fidelity.py [--concurrency 100] [--skip-naive]

Exit code 0 when the harness meets every goal. On a shared machine (load average above the core
count) the server itself answers late; the table shows the server's own first-token time so the
client's error (its read lag) can be told apart from the server's lateness.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from hawkeye_bench.load.calibrate import Tolerances, Truth, calibrate

NAIVE_LOCUSTFILE = Path(__file__).resolve().with_name("naive_iter_lines_locustfile.py")


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def rows(ev: dict[str, Any]) -> list[tuple[str, str]]:
    m, truth = ev["measured"], ev["truth"]
    checks = {c["check"]: c for c in ev["checks"]}
    return [
        ("TTFT p50 (ms)", _f(m["ttft_p50_ms"])),
        ("TTFT p50 error (ms)", _f(checks["ttft_p50_error_ms"]["measured"])),
        ("TT_ACK p50 (ms; role chunk, sent at once)", _f(m["tt_ack_p50_ms"])),
        ("server's first-token write p50 (ms)", _f(m["server_ttft_p50_ms"])),
        ("first-token read lag p50 (ms)", _f(m["first_token_lag_p50_ms"], 3)),
        ("TBT mean (ms)", _f(m["tbt_mean_ms"], 3)),
        ("TBT mean error (%)", _f(100 * (checks["tbt_mean_error"]["measured"] or 0), 3)),
        ("TBT p50 / p99 (ms)", f"{_f(m['tbt_p50_ms'])} / {_f(m['tbt_p99_ms'])}"),
        (f"gaps < {0.1 * truth['gap_ms']:g} ms (%)", _f(100 * (m["near_zero_gap_share"] or 0))),
        ("delivery lag p50 / p99 (ms)", f"{_f(m['lag_p50_ms'], 3)} / {_f(m['lag_p99_ms'], 3)}"),
        ("E2E p50 (ms)", _f(m["e2e_p50_ms"])),
        ("requests measured", str(m["requests_ok"])),
        (
            "client CPU mean / max (%)",
            f"{_f(m['client_cpu_mean_percent'], 0)} / {_f(m['client_cpu_max_percent'], 0)}",
        ),
        ("machine load average", f"{ev['machine']['load_1min']:.1f} on {ev['machine']['cores']}"),
        ("all goals met", "yes" if ev["passed"] else "NO"),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--requests-per-user", type=int, default=5)
    parser.add_argument("--skip-naive", action="store_true", help="skip the iter_lines run")
    parser.add_argument(
        "--no-pin", action="store_true", help="leave server and client unpinned (busy machine)"
    )
    parser.add_argument("--out", type=Path, help="keep raw records here (default: temp dir)")
    args = parser.parse_args()
    truth, tolerances = Truth(ttft_ms=100, gap_ms=20, tokens=64), Tolerances()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        ours = calibrate(
            [args.concurrency],
            out / "readline",
            requests_per_user=args.requests_per_user,
            truth=truth,
            tolerances=tolerances,
            pin_cores=not args.no_pin,
        )[0]
        naive = None
        if not args.skip_naive:
            naive = calibrate(
                [args.concurrency],
                out / "iter_lines",
                requests_per_user=args.requests_per_user,
                truth=truth,
                tolerances=tolerances,
                locustfile=NAIVE_LOCUSTFILE,
                pin_cores=not args.no_pin,
            )[0]
    print()
    print(
        f"Load-measurement fidelity at concurrency {args.concurrency}: server TTFT "
        f"{truth.ttft_ms:g} ms, gap {truth.gap_ms:g} ms, {truth.tokens} tokens. Goals: TTFT p50 "
        f"error < {tolerances.ttft_p50_ms:g} ms, TBT mean error < "
        f"{100 * tolerances.tbt_mean_fraction:g} %, near-zero gaps < "
        f"{100 * tolerances.near_zero_share:g} %, delivery lag p99 < {tolerances.lag_p99_ms:g} ms."
    )
    print()
    header = "| metric | harness (readline) |" + (" naive iter_lines |" if naive else "")
    print(header)
    print("|---|---|" + ("---|" if naive else ""))
    naive_rows = dict(rows(naive)) if naive else {}
    for name, value in rows(ours):
        print(f"| {name} | {value} |" + (f" {naive_rows[name]} |" if naive else ""))
    return 0 if ours["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
