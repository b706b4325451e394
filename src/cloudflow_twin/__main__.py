"""`cloudflow-twin` CLI: `api`, `engine`, `partner` subcommands (README "Processes").

The engine and partner entry points are imported lazily so each process only loads its own code.
A configuration error prints one line and exits with status 2.
"""
from __future__ import annotations

import importlib.util
import sys

import click

from . import settings as settings_mod


def _fail(message: str) -> None:
    click.echo(f"cloudflow-twin: {message}", err=True)
    sys.exit(2)


@click.group()
def main() -> None:
    """CloudFlow 3.2.1 twin processes."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, type=int, show_default=True)
def api(host: str, port: int) -> None:
    """Run the HTTP API (FastAPI on uvicorn)."""
    try:
        settings = settings_mod.load().require("database_url", "state_dir", "signing_key")
    except settings_mod.ConfigError as exc:
        _fail(str(exc))
    import uvicorn

    from .api.app import create_app

    app = create_app(settings)
    options = {"host": host, "port": port, "access_log": False, "log_level": "warning",
               "lifespan": "on", "timeout_graceful_shutdown": 5}
    # uvloop / httptools when installed (much less per-request overhead); stdlib fallbacks otherwise
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    uvicorn.run(app, **options)


@main.command()
def engine() -> None:
    """Run the workflow engine."""
    from .engine.main import run

    run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, type=int, show_default=True)
def partner(host: str, port: int) -> None:
    """Run the partner-API stub."""
    from .partner import run

    run(host, port)


if __name__ == "__main__":
    main()
