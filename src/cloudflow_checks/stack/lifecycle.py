"""Bring the local stack (PostgreSQL, Toxiproxy + proxies, the twin's partner, api, engine) up and down.

Everything lives in one state dir (default <repo>/.state, or $CLOUDFLOW_STATE_DIR):

    stack.json        what is running and how to reach it (0600: holds secrets)
    stack.lock        fcntl lock: one up/down at a time, across processes (pytest-xdist workers)
    secrets.json      database passwords, kept with the database (0600)
    seed.json         the twin's seed, fresh each up (0600)
    pg/               PostgreSQL data dir (kept across runs)
    twin/             TWIN_STATE_DIR (control.json, heartbeat, the twin's JSON logs in twin/logs/)
    logs/<name>.out   stdout/stderr of each process (postgres.log for PostgreSQL); .prev = last run's

stack.json keys (status "up"): api_url, toxiproxy_url, proxies {name: {listen, upstream}},
proxies_names {postgres, partner_api -> Toxiproxy names}, partner_url (direct), partner_control_url,
partner_proxy_url, database {host, port, name, user, password, superuser, superuser_password,
url (through the proxy), direct_url}, admin_token, signing_alg, signing_key, faults,
seed {file, workspaces, users, platform_admin, tier_admins}, twin_state_dir, log_files (the twin's
JSON logs), process_logs, components {name: {pid, start_time, port, log}}, pids, ports, state_dir,
owner_pid, started_at, startup_s, schema, status.

stack.json is written while starting too (status "starting"), so that whatever a crashed or
killed `up` left behind is found and stopped by the next `up` or `down`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import httpx

from ..toxiproxy_client import ToxiproxyAdmin, ToxiproxyError
from . import binaries, ports, procs, seed
from .errors import NotUp, StackError, UnknownFault
from .postgres import LocalPostgres

SCHEMA = 1
DATABASE = "cloudflow"
DB_ROLE = "cloudflow"
PROXY_NAMES = {"postgres": "postgres", "partner_api": "partner-api"}  # logical name -> Toxiproxy name
TWIN_PROCESSES = ("partner", "api", "engine")
STOP_ORDER = ("engine", "api", "partner", "toxiproxy")  # then postgres
PORT_NAMES = ("postgres", "toxiproxy", "partner", "api", "postgres_proxy", "partner_proxy")
HEARTBEAT_MAX_AGE_S = 5.0

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def default_state_dir() -> Path:
    env = os.environ.get("CLOUDFLOW_STATE_DIR")
    if env:
        return Path(env).resolve()
    root = binaries.repo_root()
    return ((root or Path.cwd()) / ".state").resolve()


def _dir(state_dir: Path | str | None) -> Path:
    return Path(state_dir).resolve() if state_dir else default_state_dir()


# --- files ---------------------------------------------------------------------------------------
def _write_private(path: Path, data: dict) -> None:
    """Atomic write, readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        raise StackError(f"{path} is unreadable ({exc}); run `twin down` to clean up") from exc


# keys a stack with status "up" must have for status, the CLI and the targets to use it
UP_KEYS = ("api_url", "toxiproxy_url", "partner_url", "database", "admin_token", "twin_state_dir", "pids")


CLEAN_UP_HINT = "; run `twin down` to clean up"


class CorruptStack(StackError):
    """stack.json is there but unusable: `twin down` stops what it can find and removes it."""


def _read_stack(state: Path) -> dict | None:
    """stack.json checked for the shape everything here relies on; None when there is none."""
    path = state / "stack.json"
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        raise CorruptStack(f"{path} is unreadable ({exc}){CLEAN_UP_HINT}") from None
    problem = None
    if not isinstance(info, dict):
        problem = f"a JSON {type(info).__name__}, not an object"
    elif not isinstance(info.get("components"), dict):
        problem = "no components"
    else:
        try:
            for comp in info["components"].values():
                if procs.ProcessRecord.from_json(comp) is None:
                    raise ValueError("a component without a pid")
        except (ValueError, TypeError, AttributeError) as exc:
            problem = f"a bad process record ({exc})"
        if problem is None and info.get("status") == "up":
            missing = [k for k in UP_KEYS if k not in info]
            if missing:
                problem = f"status up without {', '.join(missing)}"
    if problem:
        raise CorruptStack(f"{path} is corrupt ({problem}){CLEAN_UP_HINT}")
    return info


@contextlib.contextmanager
def _locked(state: Path, timeout_s: float) -> Iterator[None]:
    """Exclusive lock on <state>/stack.lock, polled with a deadline (another process may be starting)."""
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "stack.lock", "a+") as handle:
        end = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    raise StackError(f"another process holds {state / 'stack.lock'} for over {timeout_s:.0f} s")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_info(state_dir: Path | str | None = None) -> dict | None:
    """stack.json of a stack that is up with every process alive, else None (cheap: no network)."""
    info = _read_stack(_dir(state_dir))
    if not info or info.get("status") != "up":
        return None
    if not all(procs.is_alive(procs.ProcessRecord.from_json(c)) for c in info["components"].values()):
        return None
    return info


# --- probes ----------------------------------------------------------------------------------------
def _http_ok(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, timeout=timeout, headers=headers).status_code == 200
    except httpx.HTTPError:
        return False


def _http_answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=2.0)
        return True
    except httpx.HTTPError:
        return False


def _toxiproxy_ok(url: str) -> bool:
    try:
        return ToxiproxyAdmin(url, timeout=2.0).version() == binaries.TOXIPROXY_VERSION
    except ToxiproxyError:
        return False


def _heartbeat_age(twin_state: Path) -> float | None:
    try:
        return max(0.0, time.time() - (twin_state / "engine.heartbeat").stat().st_mtime)
    except FileNotFoundError:
        return None


def _component_health(name: str, info: dict) -> tuple[bool, str]:
    """(healthy, detail) of one component of a stack that claims to be up."""
    if name == "postgres":
        db = info["database"]
        ok = LocalPostgres.healthy(db["port"], db["user"], db["password"], db["name"])
        return ok, "accepts connections" if ok else "does not accept connections"
    if name == "toxiproxy":
        try:
            proxies = ToxiproxyAdmin(info["toxiproxy_url"], timeout=2.0).proxies()
        except ToxiproxyError as exc:
            return False, str(exc)
        missing = [p for p in PROXY_NAMES.values() if p not in proxies]
        disabled = [p for p in PROXY_NAMES.values() if p in proxies and not proxies[p].enabled]
        toxics = sum(len(p.toxics) for p in proxies.values())
        if missing:
            return False, f"proxies missing: {', '.join(missing)}"
        detail = f"proxies ok, {toxics} toxic(s)" + (f", disabled: {', '.join(disabled)}" if disabled else "")
        return True, detail
    if name == "partner":
        ok = _http_ok(info["partner_url"] + "/_partner/calls")
        return ok, "answers" if ok else "does not answer"
    if name == "api":
        try:
            response = httpx.get(info["api_url"] + "/health", timeout=3.0)
        except httpx.HTTPError as exc:
            return False, f"no answer ({type(exc).__name__})"
        status = response.json().get("status", "?") if response.headers.get("content-type", "").startswith(
            "application/json") else "?"
        return response.status_code == 200, f"/health {response.status_code} {status}"
    if name == "engine":
        age = _heartbeat_age(Path(info["twin_state_dir"]))
        if age is None:
            return False, "no heartbeat"
        return age <= HEARTBEAT_MAX_AGE_S, f"heartbeat {age:.1f} s ago"
    return False, "unknown component"


def status(state_dir: Path | str | None = None) -> dict:
    """{"up": bool, "state_dir", "components": {name: {pid, port, alive, healthy, detail, log}}}."""
    state = _dir(state_dir)
    info = _read_stack(state)
    if not info:
        return {"up": False, "state_dir": str(state), "status": "down", "components": {}}
    components = {}
    for name, comp in info["components"].items():
        alive = procs.is_alive(procs.ProcessRecord.from_json(comp))
        if not alive:
            healthy, detail = False, "not running"
        elif info.get("status") != "up":
            healthy, detail = False, f"stack status {info.get('status')!r} (a start still running, or killed)"
        else:
            healthy, detail = _component_health(name, info)
        components[name] = {"pid": comp["pid"], "port": comp.get("port"), "alive": alive, "healthy": healthy,
                            "detail": detail, "log": comp.get("log")}
    up = info.get("status") == "up" and bool(components) and all(c["healthy"] for c in components.values())
    return {"up": up, "state_dir": str(state), "status": info.get("status"), "faults": info.get("faults", []),
            "api_url": info.get("api_url"), "toxiproxy_url": info.get("toxiproxy_url"), "components": components}


# --- up ---------------------------------------------------------------------------------------------
def _normalize_faults(faults: Iterable[str] | str | None) -> list[str]:
    if not faults:
        return []
    if isinstance(faults, str):
        faults = [faults]
    names = {f.strip() for item in faults for f in item.split(",") if f.strip()}
    return sorted(names)


def _db_secrets(state: Path, pg: LocalPostgres) -> dict:
    """Database passwords live as long as the data dir: a cluster without them is made anew."""
    path = state / "secrets.json"
    stored = _read_json(path) if path.exists() else None
    if pg.initialized and stored and {"superuser_password", "password"} <= stored.keys():
        return stored
    stored = {"superuser_password": seed.password(), "password": seed.password()}
    pg.init(stored["superuser_password"])
    _write_private(path, stored)
    return stored


def _twin_env(info: dict) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWIN_")}
    env.update({
        "TWIN_DATABASE_URL": info["database"]["url"],
        "TWIN_PARTNER_URL": info["partner_proxy_url"],
        "TWIN_STATE_DIR": info["twin_state_dir"],
        "TWIN_TEST_MODE": "1",
        "TWIN_ADMIN_TOKEN": info["admin_token"],
        "TWIN_JWT_ALG": info["signing_alg"],
        "TWIN_SIGNING_KEY": info["signing_key"],
        "TWIN_FAULTS": ",".join(info["faults"]),
        "TWIN_SEED_FILE": info["seed"]["file"],
        "PYTHONUNBUFFERED": "1",
    })
    return env


def _start(state: Path, faults: list[str], requested: Mapping[str, int], timeout_s: float,
           progress: Progress) -> dict:
    t0 = time.monotonic()

    def remaining() -> float:
        left = timeout_s - (time.monotonic() - t0)
        if left <= 0:
            raise StackError(f"the stack did not come up within {timeout_s:.0f} s")
        return left

    # Everything that can be checked before anything starts: fault names, binaries, ports.
    _check_fault_names(faults)
    pg_bin = binaries.postgres_bin_dir()
    toxiproxy_bin = binaries.toxiproxy_server()
    python = binaries.twin_python()
    unknown = set(requested) - set(PORT_NAMES)
    if unknown:
        raise StackError(f"unknown port name(s) {', '.join(sorted(unknown))}; known: {', '.join(PORT_NAMES)}")
    servers = ("postgres", "toxiproxy", "partner", "api")
    picked = iter(ports.free_ports(sum(1 for n in servers if requested.get(n) is None)))
    chosen = {name: ports.choose(name, requested[name]) if requested.get(name) is not None else next(picked)
              for name in servers}
    for name in ("postgres_proxy", "partner_proxy"):
        if requested.get(name) is not None:
            chosen[name] = ports.choose(name, requested[name])

    logs = state / "logs"
    twin_state = state / "twin"
    logs.mkdir(parents=True, exist_ok=True)
    twin_state.mkdir(parents=True, exist_ok=True)
    for leftover in ("control.json", "engine.heartbeat"):  # clock offset and faults of an earlier run
        (twin_state / leftover).unlink(missing_ok=True)

    host = ports.HOST
    info: dict = {
        "schema": SCHEMA, "status": "starting", "state_dir": str(state), "owner_pid": os.getpid(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "faults": faults, "twin_state_dir": str(twin_state), "components": {},
        "process_logs": {}, "ports": dict(chosen),
    }
    stack_file = state / "stack.json"

    def record(name: str, rec: procs.ProcessRecord, port: int | None, log: Path) -> None:
        info["components"][name] = {**rec.to_json(), "port": port, "log": str(log)}
        info["process_logs"][name] = str(log)
        _write_private(stack_file, info)

    # 1. PostgreSQL
    progress(f"PostgreSQL: starting on {host}:{chosen['postgres']} (data {state / 'pg'})")
    pg = LocalPostgres(pg_bin, state / "pg", logs / "postgres.log")
    db_secrets = _db_secrets(state, pg)
    record("postgres", pg.start(chosen["postgres"], timeout_s=min(60, remaining())), chosen["postgres"],
           pg.log_path)
    pg.provision(chosen["postgres"], db_secrets["superuser_password"], DATABASE, DB_ROLE, db_secrets["password"])

    # 2. Toxiproxy and its proxies
    progress(f"Toxiproxy: starting on {host}:{chosen['toxiproxy']}")
    toxiproxy_url = f"http://{host}:{chosen['toxiproxy']}"
    log = logs / "toxiproxy.out"
    rec = procs.spawn("toxiproxy", [str(toxiproxy_bin), "-host", host, "-port", str(chosen["toxiproxy"])], log,
                      {**os.environ, "LOG_LEVEL": "info"})
    record("toxiproxy", rec, chosen["toxiproxy"], log)
    procs.wait_for("toxiproxy-server", lambda: _toxiproxy_ok(toxiproxy_url), min(20, remaining()),
                   record=rec, log_path=log)
    admin = ToxiproxyAdmin(toxiproxy_url)
    pg_proxy = admin.ensure_proxy(PROXY_NAMES["postgres"], f"{host}:{chosen.get('postgres_proxy', 0)}",
                                  f"{host}:{chosen['postgres']}")
    partner_proxy = admin.ensure_proxy(PROXY_NAMES["partner_api"], f"{host}:{chosen.get('partner_proxy', 0)}",
                                       f"{host}:{chosen['partner']}")
    info["ports"]["postgres_proxy"] = pg_proxy.listen_host_port[1]
    info["ports"]["partner_proxy"] = partner_proxy.listen_host_port[1]

    # 3. Seed, secrets, everything the twin and the suite need to know
    the_seed = seed.make_seed()
    seed_file = state / "seed.json"
    _write_private(seed_file, the_seed)
    db_proxy_port = pg_proxy.listen_host_port[1]
    info.update(seed.run_secrets())
    info.update({
        "api_url": f"http://{host}:{chosen['api']}",
        "toxiproxy_url": toxiproxy_url,
        "proxies": {p.name: {"listen": p.listen, "upstream": p.upstream} for p in (pg_proxy, partner_proxy)},
        "proxies_names": dict(PROXY_NAMES),
        "partner_url": f"http://{host}:{chosen['partner']}",
        "partner_control_url": f"http://{host}:{chosen['partner']}/_partner",
        "partner_proxy_url": f"http://{partner_proxy.listen}",
        "database": {
            "host": host, "port": chosen["postgres"], "name": DATABASE, "user": DB_ROLE,
            "password": db_secrets["password"], "superuser": "postgres",
            "superuser_password": db_secrets["superuser_password"],
            "url": f"postgresql://{DB_ROLE}:{db_secrets['password']}@{host}:{db_proxy_port}/{DATABASE}",
            "direct_url": f"postgresql://{DB_ROLE}:{db_secrets['password']}@{host}:{chosen['postgres']}/{DATABASE}",
        },
        "seed": seed.summary(the_seed, str(seed_file)),
        "log_files": [str(twin_state / "logs" / f"{n}.log") for n in TWIN_PROCESSES],
    })
    _write_private(stack_file, info)

    # 4. The twin: partner, api and engine start together (each takes seconds to import; the engine
    #    waits for the api's migrations itself and calls the partner only when a workflow runs);
    #    then the api's /health must say that all is well.
    env = _twin_env(info)
    twin_argv = [str(python), "-m", "cloudflow_twin"]
    progress(f"twin: starting partner on {host}:{chosen['partner']}, api on {host}:{chosen['api']}, engine")
    started: dict[str, tuple[procs.ProcessRecord, Path]] = {}
    for name, args, port in (("partner", ["partner", "--host", host, "--port", str(chosen["partner"])], chosen["partner"]),
                             ("api", ["api", "--host", host, "--port", str(chosen["api"])], chosen["api"]),
                             ("engine", ["engine"], None)):
        log = logs / f"{name}.out"
        rec = procs.spawn(f"twin {name}", twin_argv + args, log, env)
        record(name, rec, port, log)
        started[name] = (rec, log)
    (partner_rec, partner_log), (api_rec, api_log), (engine_rec, engine_log) = (
        started["partner"], started["api"], started["engine"])
    procs.wait_for("twin partner", lambda: _http_ok(info["partner_url"] + "/_partner/calls"),
                   min(30, remaining()), record=partner_rec, log_path=partner_log)
    procs.wait_for("twin api", lambda: _http_answers(info["api_url"] + "/health"), remaining(),
                   record=api_rec, log_path=api_log)

    def healthy() -> bool:
        if not procs.is_alive(engine_rec):
            raise StackError(f"twin engine exited while starting; last lines of {engine_log}:\n"
                             f"{procs.tail(engine_log)}")
        return _http_ok(info["api_url"] + "/health")

    try:
        procs.wait_for("twin api /health", healthy, remaining(), record=api_rec, log_path=api_log)
    except StackError as exc:
        _, detail = _component_health("api", info)
        raise StackError(f"{exc}\n(api says {detail}; engine log: {engine_log})") from None

    if faults:
        _check_faults_on(info, faults)
    info["status"] = "up"
    info["pids"] = {name: comp["pid"] for name, comp in info["components"].items()}
    info["startup_s"] = round(time.monotonic() - t0, 2)
    _write_private(stack_file, info)
    progress(f"up in {info['startup_s']:.1f} s: api {info['api_url']}, toxiproxy {toxiproxy_url}, "
             f"postgres proxy {pg_proxy.listen}, partner proxy {partner_proxy.listen}")
    return info


def fault_switches(info: dict) -> list[dict]:
    """The running twin's fault switches, from its control API: [{name, behaviour, description, enabled}]."""
    try:
        response = httpx.get(info["api_url"] + "/_twin/faults", headers={"X-Twin-Admin-Token": info["admin_token"]},
                             timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise StackError(f"could not read the twin's fault switches at {info['api_url']}/_twin/faults: {exc}") from exc
    return response.json()


def _check_fault_names(faults: list[str]) -> None:
    """Refuse a misspelt fault before anything starts. The twin's list is imported without its
    server (cloudflow_twin.faults only reads control.json); _check_faults_on asks the twin again."""
    if not faults:
        return
    try:
        from cloudflow_twin import faults as twin_faults
    except ImportError:  # the twin runs from another Python: only the running twin can tell
        return
    known = {f.name for f in twin_faults.load_all()}
    unknown = [f for f in faults if f not in known]
    if unknown:
        raise UnknownFault(f"unknown fault switch(es): {', '.join(unknown)}; the twin has: {', '.join(sorted(known))}")


def _check_faults_on(info: dict, faults: list[str]) -> None:
    """The twin takes TWIN_FAULTS as given; a misspelt name must not start a stack without the fault."""
    switches = {s["name"]: s for s in fault_switches(info)}
    unknown = [f for f in faults if f not in switches]
    if unknown:
        raise UnknownFault(f"unknown fault switch(es): {', '.join(unknown)}; the twin has: {', '.join(sorted(switches))}")
    off = [f for f in faults if not switches[f].get("enabled")]
    if off:
        raise StackError(f"the twin did not turn on fault switch(es) {', '.join(off)} given in TWIN_FAULTS")


def _running_info(state: Path) -> dict | None:
    """stack.json of a started stack whose every process is alive. Health is not asked: a stack
    that answers slowly (a loaded machine) or badly (a seeded fault, a toxic under test) is
    still the one to use; restarting it would lose its state and toxics under the caller's feet."""
    info = _read_stack(state)
    if not info or info.get("status") != "up" or not info.get("components"):
        return None
    alive = all(procs.is_alive(procs.ProcessRecord.from_json(c)) for c in info["components"].values())
    return info if alive else None


def _up_locked(state: Path, faults: list[str] | None, requested: Mapping[str, int], timeout_s: float,
               progress: Progress) -> tuple[dict, bool]:
    current = _running_info(state)
    if current is not None:
        if faults is not None and sorted(current.get("faults", [])) != faults:
            raise StackError(f"the stack in {state} is already up with faults {current.get('faults') or 'none'}, "
                             f"not {faults or 'none'}: run `twin down` first")
        progress(f"already up: api {current['api_url']}")
        return current, False
    if (state / "stack.json").exists() or _postgres_for_cleanup(state).processes() or unlisted_processes(state):
        progress("found a stale or unhealthy stack; stopping what is left of it")
        _down_locked(state, progress)
    try:
        return _start(state, faults or [], requested, timeout_s, progress), True
    except BaseException:
        # nothing half-started stays behind (KeyboardInterrupt included)
        with contextlib.suppress(Exception):
            _down_locked(state, _quiet)
        raise


def up(state_dir: Path | str | None = None, faults: Iterable[str] | str | None = (),
       ports: Mapping[str, int] | None = None, timeout_s: float = 120.0,
       progress: Progress | None = None) -> dict:
    """Start the stack (or return the running one); returns the stack.json content."""
    state = _dir(state_dir)
    with _locked(state, timeout_s + 60):
        info, _ = _up_locked(state, _normalize_faults(faults), {k: v for k, v in (ports or {}).items()
                                                               if v is not None}, timeout_s, progress or _quiet)
    return info


def ensure_up(state_dir: Path | str | None = None, faults: Iterable[str] | str | None = None,
              timeout_s: float = 120.0, progress: Progress | None = None) -> tuple[dict, bool]:
    """(stack info, started_here): start the stack unless one is up. Safe to call from many
    processes at once (pytest-xdist workers): they queue on a file lock and only the first starts it.
    `faults=None` takes a running stack whatever its faults (the selftest restarts it with some)
    and starts one without; a list demands exactly those."""
    state = _dir(state_dir)
    with _locked(state, timeout_s + 60):
        return _up_locked(state, None if faults is None else _normalize_faults(faults), {}, timeout_s,
                          progress or _quiet)


def unlisted_processes(state: Path) -> list[procs.ProcessRecord]:
    """The state dir's processes other than PostgreSQL's, whatever stack.json says (or does not)."""
    return procs.of_state_dir(state, [f"{name}.out" for name in STOP_ORDER])


def _postgres_for_cleanup(state: Path) -> LocalPostgres:
    """The state dir's cluster; cleaning up must work even when the binaries went missing meanwhile
    (stop() then falls back to signals)."""
    try:
        bindir = binaries.postgres_bin_dir()
    except StackError:
        bindir = Path("/nonexistent")
    return LocalPostgres(bindir, state / "pg", state / "logs" / "postgres.log")


# --- down -------------------------------------------------------------------------------------------
def _down_locked(state: Path, progress: Progress, grace_s: float = 10.0) -> dict:
    try:
        info = _read_stack(state) or {"components": {}}
    except CorruptStack as exc:
        progress(f"{str(exc).removesuffix(CLEAN_UP_HINT)}: stopping what its logs and TWIN_STATE_DIR show, "
                 "then removing it")
        info = {"components": {}}
    stopped: dict[str, bool] = {}
    for name in STOP_ORDER:
        comp = info["components"].get(name)
        if comp:
            stopped[name] = procs.stop_group(procs.ProcessRecord.from_json(comp), grace_s=grace_s)
            progress(f"{name}: {'stopped' if stopped[name] else 'STILL RUNNING'} (pid {comp['pid']})")
    pg = _postgres_for_cleanup(state)
    # what stack.json does not name (missing, corrupt, or an up killed before it wrote a record);
    # PostgreSQL's own processes are left to pg.stop() below
    postgres_pids = {r.pid for r in pg.processes()}
    unlisted = [r for r in unlisted_processes(state) if r.pid not in postgres_pids]
    if unlisted:
        stopped["unlisted"] = procs.stop_all(unlisted, grace_s)
        progress(f"processes not in stack.json {', '.join(str(r.pid) for r in unlisted)}: "
                 f"{'stopped' if stopped['unlisted'] else 'STILL RUNNING'}")
    if info["components"].get("postgres") or pg.processes():
        stopped["postgres"] = pg.stop()
        progress(f"postgres: {'stopped' if stopped['postgres'] else 'STILL RUNNING'}")
    # verify by pid: nothing recorded may be alive, nothing may run in the data dir
    left = [f"{name} (pid {comp['pid']})" for name, comp in info["components"].items()
            if procs.is_alive(procs.ProcessRecord.from_json(comp))]
    left += [f"postgres process {r.pid}" for r in pg.processes()]
    named = {comp["pid"] for comp in info["components"].values()}
    left += [f"process {r.pid}" for r in unlisted_processes(state) if r.pid not in named]
    if left:
        raise StackError(f"could not stop: {', '.join(left)}; stack.json kept in {state}")
    (state / "stack.json").unlink(missing_ok=True)
    return {"stopped": stopped, "left": []}


def down(state_dir: Path | str | None = None, grace_s: float = 10.0, progress: Progress | None = None) -> dict:
    """Stop every process of the stack (SIGTERM, SIGKILL after grace_s; PostgreSQL: pg_ctl stop -m fast)
    and verify that none is left. Keeps data, logs and the seed; removes stack.json."""
    state = _dir(state_dir)
    if not state.exists():
        return {"stopped": {}, "left": []}
    with _locked(state, grace_s + 120):
        return _down_locked(state, progress or _quiet, grace_s)


def require_up(state_dir: Path | str | None = None) -> dict:
    info = read_info(state_dir)
    if info is None:
        raise NotUp(f"the local twin is not up (state dir {_dir(state_dir)}); start it with: cloudflow-checks twin up")
    return info
