"""Load: Locust drives each rate-limit tier to its limits and past them (RATE-01/02/03, PERF-02).

Locust (and its gevent) runs only in subprocesses started by `runner`; this package's modules that
the pytest process imports (plan, paths, records, verdicts, report, runner, scenarios, cli) never
import gevent or locust. `recorder` and `timelapse` are imported by the locustfile, inside Locust.
"""
