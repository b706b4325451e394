"""Load benchmarks, measured side by side in one run against the local twin, printed as ratios.

    .venv/bin/python bench/load_bench.py [--out DIR] [--seconds 10] [--skip-premium] [--profile]

1. Load accuracy: Locust at a constant throughput of 100, 500 and 1000 req/s: achieved / target.
2. Generator capacity: Locust (1 process), Locust (master + 2 workers) and wrk, back to back
   against the same endpoint: req/s and generator CPU per 1000 requests.
3. Twin throughput at saturation (wrk): a rate-limited endpoint (accepted, and past its limit:
   429) vs unlimited ones, with the twin API's CPU per request.
4. Premium tier in real time at 1.5x its per-minute limit for one window (+ tail): p95 of the
   accepted and of the rejected requests against 200 ms; with --profile, py-spy samples the API.

Generators run under `nice`; the machine is shared, so every figure comes with the load average.
Uses (and leaves running) the stack of $CLOUDFLOW_STATE_DIR; starts it if needed and then stops it.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from cloudflow_checks import accounts, spec as spec_module, targets
from cloudflow_checks.client import CloudFlowClient, TwinControl
from cloudflow_checks.clock import Clock
from cloudflow_checks.load import paths, runner, scenarios, verdicts
from cloudflow_checks.load.plan import TierLimits, closed_plan, constant_plan

NICE = 10
CONNECTIONS = 32
BENCH_LIMITS = TierLimits("enterprise", 10 ** 8, 10 ** 9, None)   # "unlimited" enterprise workspace
PREMIUM_P95_TARGET_MS = 200


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    return os.getloadavg()[0]


# -- wrk ------------------------------------------------------------------------------------------
def wrk(url: str, token: str | None, seconds: int, connections: int = CONNECTIONS) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "auth.lua"
        # the token stays out of the command line: wrk's Lua reads it from the environment
        script.write_text('local t = os.getenv("BENCH_TOKEN")\n'
                          'if t and #t > 0 then wrk.headers["Authorization"] = "Bearer " .. t end\n')
        env = {**os.environ, "BENCH_TOKEN": token or ""}
        cpu0 = children_cpu()
        out = subprocess.run(["nice", "-n", str(NICE), "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds}s",
                              "--latency", "-s", str(script), url],
                             env=env, capture_output=True, text=True, timeout=seconds + 30).stdout
        cpu = children_cpu() - cpu0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    lat = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "requests": total, "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0,
            "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "cpu_s": cpu}


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# -- Locust ---------------------------------------------------------------------------------------
def locust(plan, folder: Path, workers: int) -> dict:
    cpu0 = children_cpu()
    output = runner.run(plan, folder, workers=workers, nice=NICE)
    cpu = children_cpu() - cpu0
    reqs = output.history.requests
    t0 = output.history.clock.t0
    steady = [r for r in reqs if t0 + 2 <= r.start <= t0 + plan.hold_s - 1]
    span = max(1e-6, plan.hold_s - 3)
    ms = [r.ms for r in steady if r.answered]
    return {"rps": len(steady) / span, "requests": len(reqs), "cpu_s": cpu,
            "statuses": dict(Counter(r.status for r in reqs)),
            "p50_ms": verdicts.percentile(ms, 0.5), "p99_ms": verdicts.percentile(ms, 0.99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="folder for results (default: a temp folder)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each measurement")
    parser.add_argument("--skip-premium", action="store_true")
    parser.add_argument("--profile", action="store_true", help="py-spy the twin API during the premium run")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="load-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    target, started = targets.resolve("local")
    api = CloudFlowClient(target.base_url)
    results: dict = {"load_average_start": load_average()}
    try:
        info = json.loads((target.state_dir / "stack.json").read_text())
        api_pid = int(info["pids"]["api"])
        admin = accounts.platform_admin_client(api, target)
        unlimited = accounts.provision(api, admin, "enterprise", label="bench", roles=("viewer",),
                                       custom_limits={"per_minute": BENCH_LIMITS.per_minute,
                                                      "per_hour": BENCH_LIMITS.per_hour})
        limited = accounts.provision(api, admin, "free", label="bench", roles=("viewer",))
        limited_client = limited.as_role("viewer")
        for _ in range(61):                        # past the free tier's minute: from here on, 429s
            limited_client.list_workflows()
        base, s = target.base_url, args.seconds
        workflows_url = base + paths.list_workflows().path
        endpoints = {
            "limited, accepted": (workflows_url, unlimited.token("viewer")),
            "limited, past limit (429)": (workflows_url, limited.token("viewer")),
            "unlimited /openapi.json": (base + paths.openapi().path, None),
            "unlimited /health": (base + paths.health().path, None),
        }

        # 3. twin throughput at saturation (wrk, the cheapest generator)
        saturation = {}
        url, token = endpoints["limited, accepted"]     # service time without queueing: 1 connection
        cpu0 = process_cpu(api_pid)
        saturation["limited, accepted, 1 conn"] = wrk(url, token, s, connections=1)
        saturation["limited, accepted, 1 conn"]["twin_cpu_ms_per_req"] = (
            (process_cpu(api_pid) - cpu0) * 1000 / max(1, saturation["limited, accepted, 1 conn"]["requests"]))
        for name, (url, token) in endpoints.items():
            if name.endswith("(429)"):
                for _ in range(61):
                    limited_client.list_workflows()
            cpu0 = process_cpu(api_pid)
            saturation[name] = wrk(url, token, s)
            saturation[name]["twin_cpu_ms_per_req"] = (process_cpu(api_pid) - cpu0) * 1000 / max(1, saturation[name]["requests"])
            print(f"saturation {name}: {saturation[name]['rps']:.0f} req/s", flush=True)
        results["saturation"] = saturation

        # 2. generator capacity: one endpoint, three generators
        cap_url, cap_token = endpoints["limited, past limit (429)"]
        cap_request = paths.list_workflows()
        capacity = {"wrk (2 threads)": wrk(cap_url, cap_token, s)}
        for label, workers in (("Locust, 1 process", 0), ("Locust, master + 2 workers", 2)):
            plan = closed_plan(f"cap-{workers}", base, cap_request, BENCH_LIMITS, CONNECTIONS, s)
            plan.token = cap_token
            capacity[label] = locust(plan, out / f"capacity-{workers}", workers)
            print(f"capacity {label}: {capacity[label]['rps']:.0f} req/s", flush=True)
        results["capacity"] = capacity

        # 1. load accuracy: constant throughput, one process (and 2 workers at 1000)
        accuracy = {}
        for rate, workers in ((100, 0), (500, 0), (1000, 0), (1000, 2)):
            for _ in range(61):
                limited_client.list_workflows()
            plan = constant_plan(f"acc-{rate}-{workers}", base, cap_request, BENCH_LIMITS, rate, s)
            plan.token = cap_token
            accuracy[f"{rate} req/s, {'1 process' if not workers else f'{workers} workers'}"] = {
                "target": rate, **locust(plan, out / f"accuracy-{rate}-{workers}", workers)}
            print(f"accuracy {rate} ({workers} workers) done", flush=True)
        results["accuracy"] = accuracy

        # 4. premium in real time at 1.5x: p95 of accepted and rejected
        if not args.skip_premium:
            results["premium"] = premium(target, api, admin, out, api_pid, args.profile)
    finally:
        results["load_average_end"] = load_average()
        (out / "bench.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        api.close()
        if started:
            from cloudflow_checks import stack
            stack.down(target.state_dir)
    print_tables(results)
    print(f"\nresults: {out / 'bench.json'}")
    return 0


def premium(target, api, admin, out: Path, api_pid: int, profile: bool) -> dict:
    control = TwinControl(target.control_url, target.control_token)
    ctx = scenarios.Context(target=target, api=api, admin=admin, spec=spec_module.load(), control=control,
                            max_rate=150.0, nice=NICE)
    spy = None
    clock = Clock(control)
    try:
        local_spy = Path(sys.executable).with_name("py-spy")
        spy_bin = shutil.which("py-spy") or (str(local_spy) if local_spy.exists() else None)
        if profile and spy_bin:
            spy = subprocess.Popen([spy_bin, "record", "--pid", str(api_pid), "--duration", "60", "--rate", "50",
                                    "--format", "raw", "--output", str(out / "api-profile.txt"), "--nonblocking"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        cpu0 = process_cpu(api_pid)
        outcome = scenarios.rate_windows(ctx, "premium", out / "premium", shape="over-limit")
        cpu = process_cpu(api_pid) - cpu0
    finally:
        clock.restore()
        control.close()
        if spy is not None:
            try:
                spy.wait(timeout=90)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait(timeout=10)
    history = json.loads((out / "premium" / "verdicts.json").read_text())
    from cloudflow_checks.load.records import History
    reqs = History.read(out / "premium" / "records").requests
    accepted = [r.ms for r in reqs if 200 <= r.status < 300]
    rejected = [r.ms for r in reqs if r.rejected]
    both = accepted + rejected
    span = max(r.start for r in reqs) - min(r.start for r in reqs)
    result = {"passed": outcome.passed, "requests": len(reqs), "offered_rps": len(reqs) / span,
              "p95_accepted_ms": verdicts.percentile(accepted, 0.95), "p95_rejected_ms": verdicts.percentile(rejected, 0.95),
              "p95_all_ms": verdicts.percentile(both, 0.95), "p50_accepted_ms": verdicts.percentile(accepted, 0.5),
              "p50_rejected_ms": verdicts.percentile(rejected, 0.5),
              "status_5xx": sum(1 for r in reqs if r.status >= 500), "twin_cpu_s": cpu,
              "twin_cpu_share": cpu / span, "verdicts": [v["summary"] for v in history["verdicts"]]}
    if profile and (out / "api-profile.txt").is_file():
        result["profile_top"] = summarize_profile(out / "api-profile.txt")
    return result


def summarize_profile(path: Path, top: int = 25) -> list[tuple[str, float]]:
    """Inclusive share of samples per function (py-spy raw = collapsed stacks with counts)."""
    inclusive, total = Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for frame in set(stack.split(";")):
            inclusive[re.sub(r" \(.*?:\d+\)$", lambda m: m.group(0).split(":")[0] + ")", frame)] += n
    return [(frame, round(100 * n / max(total, 1), 1)) for frame, n in inclusive.most_common(top)]


def print_tables(r: dict) -> None:
    print(f"\nload average {r['load_average_start']:.1f} at start, {r['load_average_end']:.1f} at end (2 cores)")
    if "accuracy" in r:
        print("\n1. Load accuracy (Locust constant throughput, 429 endpoint)")
        print(f"   {'target':<24}{'achieved req/s':>15}{'achieved/target':>17}{'p50 ms':>9}{'p99 ms':>9}")
        for name, a in r["accuracy"].items():
            print(f"   {name:<24}{a['rps']:>15.1f}{a['rps'] / a['target']:>17.2f}{a['p50_ms'] or 0:>9.1f}{a['p99_ms'] or 0:>9.1f}")
    if "capacity" in r:
        cap = r["capacity"]
        ref = cap["wrk (2 threads)"]["rps"] or float("nan")
        print(f"\n2. Generator capacity (closed loop, {CONNECTIONS} connections, same 429 endpoint)")
        print(f"   {'generator':<28}{'req/s':>9}{'vs wrk':>8}{'gen CPU s/1k req':>18}")
        for name, c in cap.items():
            print(f"   {name:<28}{c['rps']:>9.0f}{c['rps'] / ref:>8.2f}{1000 * c['cpu_s'] / max(1, c['requests']):>18.3f}")
    if "saturation" in r:
        sat = r["saturation"]
        ref = sat["unlimited /openapi.json"]["rps"] or float("nan")
        print(f"\n3. Twin throughput at saturation (wrk, {CONNECTIONS} connections unless noted)")
        print(f"   {'endpoint':<28}{'req/s':>9}{'vs openapi':>11}{'p50 ms':>9}{'p99 ms':>9}{'twin CPU ms/req':>17}"
              f"{'socket errors':>15}")
        for name, x in sat.items():
            cpu = f"{x['twin_cpu_ms_per_req']:.2f}" if x["requests"] else "-"   # no answer: no per-request cost
            print(f"   {name:<28}{x['rps']:>9.0f}{x['rps'] / ref:>11.2f}{x['p50_ms'] or 0:>9.1f}{x['p99_ms'] or 0:>9.1f}"
                  f"{cpu:>17}{x.get('socket_errors', 0):>15}")
    if "premium" in r:
        p = r["premium"]
        print(f"\n4. Premium 1.5x in real time ({p['requests']} requests, {p['offered_rps']:.0f} req/s offered)")
        for key in ("p50_accepted_ms", "p95_accepted_ms", "p50_rejected_ms", "p95_rejected_ms", "p95_all_ms"):
            value = p[key]
            print(f"   {key:<18}{value or 0:>8.0f} ms   ratio to {PREMIUM_P95_TARGET_MS} ms: {(value or 0) / PREMIUM_P95_TARGET_MS:.2f}")
        print(f"   5xx: {p['status_5xx']}; twin API CPU {p['twin_cpu_share']:.0%} of one core; verdicts pass: {p['passed']}")
        for frame, share in p.get("profile_top", [])[:25]:
            print(f"   {share:>5.1f}%  {frame}")


if __name__ == "__main__":
    sys.exit(main())
