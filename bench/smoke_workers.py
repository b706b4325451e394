"""Benchmark: wall time of the smoke profile with one worker and with `-n auto`, side by side.

Runs both against the same running twin, alternating the order over `--rounds` rounds so that the
machine's noise falls on both; prints each round and the median ratio.

    .venv/bin/python bench/smoke_workers.py [--rounds 2]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def smoke(workers: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as reports:
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "cloudflow_checks.cli", "run", "--profile", "smoke",
                                "--workers", workers, "--reports", reports], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    rounds = parser.parse_args().rounds
    from cloudflow_checks import stack, targets
    info, started = stack.ensure_up(targets.state_dir())
    try:
        ratios = []
        print(f"{'round':>5} {'1 worker s':>11} {'-n auto s':>10} {'ratio':>6}  exit codes")
        for r in range(rounds):
            order = ("0", "auto") if r % 2 == 0 else ("auto", "0")
            times = {}
            codes = {}
            for workers in order:
                times[workers], codes[workers] = smoke(workers)
            ratio = times["0"] / times["auto"]
            ratios.append(ratio)
            print(f"{r + 1:>5} {times['0']:>11.1f} {times['auto']:>10.1f} {ratio:>6.2f}  {codes['0']}/{codes['auto']}")
        print(f"median speed-up of -n auto over one worker: {statistics.median(ratios):.2f}x")
    finally:
        if started:
            stack.down(targets.state_dir())


if __name__ == "__main__":
    main()
