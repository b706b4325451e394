"""A PostgreSQL server of the suite's own: data dir in the state dir, own port, loopback only.

The server refuses to run as root, so when we are root every server command runs as the
`postgres` user (Debian's package creates it) and the data dir is chowned to it; otherwise it
runs as the current user. Unix sockets are off (their path length limit would bite in deep state
dirs); everything goes over TCP on 127.0.0.1 with scram-sha-256 passwords.
"""
from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import procs
from .errors import SetupMissing, StackError

SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "300",  # the twin's pool alone may hold 100 per process, and chaos adds more
    "unix_socket_directories": "''",
    "logging_collector": "off",
    "log_min_messages": "warning",
    # a throwaway test cluster: durability against an OS crash buys nothing here, and fsync is
    # slow on a shared 2-core machine (a killed server loses nothing: the OS keeps the pages)
    "fsync": "off",
}


@dataclass(frozen=True)
class RunAs:
    uid: int
    gid: int
    name: str

    @classmethod
    def for_server(cls) -> "RunAs | None":
        """The `postgres` user when we are root, else None (run as ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise SetupMissing("running as root but there is no 'postgres' user to run the server as: "
                               "run scripts/setup.sh (Debian's 'postgresql' package creates it)") from None
        return cls(entry.pw_uid, entry.pw_gid, "postgres")


class LocalPostgres:
    def __init__(self, bindir: Path, datadir: Path, log_path: Path):
        self.bindir = bindir
        self.datadir = datadir
        self.log_path = log_path
        self.run_as = RunAs.for_server()

    # --- helpers ---------------------------------------------------------------------------
    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        kwargs: dict = {"capture_output": True, "text": True, "timeout": timeout, "cwd": "/",
                        "stdin": subprocess.DEVNULL}
        if self.run_as:
            kwargs.update(user=self.run_as.uid, group=self.run_as.gid, extra_groups=[])
        try:
            return subprocess.run(argv, **kwargs)
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{Path(argv[0]).name} did not finish within {timeout:.0f} s") from exc

    def _give_to_server_user(self, path: Path) -> None:
        if self.run_as:
            os.chown(path, self.run_as.uid, self.run_as.gid)

    def _check_reachable(self, path: Path) -> None:
        """Every parent of `path` must be searchable by the server's user, or initdb fails obscurely."""
        if not self.run_as:
            return
        for parent in list(path.parents)[::-1]:
            st = parent.stat()
            mode = st.st_mode
            if (mode & stat.S_IXOTH) or (st.st_uid == self.run_as.uid and mode & stat.S_IXUSR) or \
                    (st.st_gid == self.run_as.gid and mode & stat.S_IXGRP):
                continue
            raise StackError(f"user postgres cannot enter {parent} (mode {oct(mode & 0o777)}): "
                             f"choose a state dir it can reach (CLOUDFLOW_STATE_DIR), e.g. under /tmp")

    # --- state -------------------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.datadir / "PG_VERSION").is_file()

    def postmaster(self) -> procs.ProcessRecord | None:
        """The running postmaster according to its pid file, if that process is alive."""
        try:
            pid = int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError, PermissionError):
            return None
        start = procs.start_time_of(pid)
        record = procs.ProcessRecord(pid, start) if start is not None else None
        return record if procs.is_alive(record) else None

    # --- lifecycle ---------------------------------------------------------------------------
    def init(self, superuser_password: str) -> None:
        """initdb a fresh cluster (wiping a half-made one) with the suite's settings."""
        if self.datadir.exists():
            shutil.rmtree(self.datadir)
        self.datadir.parent.mkdir(parents=True, exist_ok=True)
        self._check_reachable(self.datadir.parent)
        self.datadir.mkdir(mode=0o700)
        self._give_to_server_user(self.datadir)
        pwfile = self.datadir.parent / ".pg-superuser-pw"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(superuser_password + "\n")
        self._give_to_server_user(pwfile)
        try:
            result = self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                                f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8",
                                "--locale=C", "--no-sync"], timeout=120)
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(f"initdb failed in {self.datadir}: {(result.stderr or result.stdout).strip()[-800:]}")
        with open(self.datadir / "postgresql.conf", "a") as conf:
            conf.write("\n# cloudflow-checks local stack\n")
            conf.writelines(f"{key} = {value}\n" for key, value in SERVER_SETTINGS.items())

    def start(self, port: int, timeout_s: float = 60) -> procs.ProcessRecord:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            self.log_path.replace(self.log_path.with_name(self.log_path.name + ".prev"))
        self.log_path.touch(mode=0o600)
        self._give_to_server_user(self.log_path)
        pid_file = self.datadir / "postmaster.pid"
        if pid_file.exists() and not self.processes():
            # left by a killed server; its pid may linger as an unreaped zombie, which the server
            # would take for a live postmaster and refuse to start
            pid_file.unlink()
        result = self._run([str(self.bindir / "pg_ctl"), "start", "-D", str(self.datadir), "-l", str(self.log_path),
                            "-w", "-t", str(int(timeout_s)), "-o", f"-p {port}"], timeout=timeout_s + 10)
        if result.returncode != 0:
            raise StackError(f"PostgreSQL did not start on port {port}: {(result.stderr or result.stdout).strip()}; "
                             f"last lines of {self.log_path}:\n{procs.tail(self.log_path)}")
        record = self.postmaster()
        if record is None:
            raise StackError(f"PostgreSQL started but no live postmaster in {self.datadir}/postmaster.pid")
        return record

    def processes(self) -> list[procs.ProcessRecord]:
        """Every live process of this cluster (postmaster and backends; they all run in the data dir)."""
        return procs.with_cwd(self.datadir) if self.datadir.exists() else []

    def stop(self, timeout_s: float = 20) -> bool:
        """pg_ctl stop -m fast, then make sure no process of the cluster is left. True: all gone."""
        leftovers = self.processes()
        if not leftovers:
            return True
        if self.postmaster() is not None and (self.bindir / "pg_ctl").is_file():
            self._run([str(self.bindir / "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w",
                       "-t", str(int(timeout_s))], timeout=timeout_s + 10)
        # after a postmaster crash its backends notice and exit by themselves within a second or so
        return procs.kill_all(leftovers + self.processes(), deadline_s=3 if self.postmaster() is None else 0)

    def provision(self, port: int, superuser_password: str, database: str, role: str, password: str) -> None:
        """Create (or update the password of) the application role and its database."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(host="127.0.0.1", port=port, dbname="postgres", user="postgres",
                             password=superuser_password, connect_timeout=10, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)))

    @staticmethod
    def healthy(port: int, user: str, password: str, database: str) -> bool:
        import psycopg

        try:
            with psycopg.connect(host="127.0.0.1", port=port, dbname=database, user=user, password=password,
                                 connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False
