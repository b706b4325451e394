"""`twin` commands: up, down, status, faults (mounted by the main CLI as `cloudflow-checks twin`).

Runnable alone too: `python -m cloudflow_checks.stack.cli up`.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import lifecycle
from .errors import StackError

state_option = click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help="Where the stack lives [default: $CLOUDFLOW_STATE_DIR or <repo>/.state].")


def _fail(exc: StackError) -> None:
    click.echo(f"twin: {exc}", err=True)
    sys.exit(exc.exit_code)


def _progress(message: str) -> None:
    click.echo(f"[twin] {message}", err=True)


@click.group()
def twin() -> None:
    """The local CloudFlow twin on real PostgreSQL behind real Toxiproxy."""


@twin.command()
@state_option
@click.option("--fault", "faults", multiple=True, metavar="NAME[,NAME]",
              help="Fault switch(es) on from the start (see `twin faults`).")
@click.option("--api-port", type=int, help="Port for the twin API [default: a free one].")
@click.option("--pg-port", type=int, help="Port for PostgreSQL [default: a free one].")
@click.option("--toxiproxy-port", type=int, help="Port for the Toxiproxy API [default: a free one].")
@click.option("--partner-port", type=int, help="Port for the partner-API stub [default: a free one].")
@click.option("--timeout", "timeout_s", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the whole stack to be healthy.")
@click.option("--json", "as_json", is_flag=True, help="Print stack.json's public part as JSON.")
def up(state_dir, faults, api_port, pg_port, toxiproxy_port, partner_port, timeout_s, as_json):
    """Start PostgreSQL, Toxiproxy and its proxies, and the twin; wait until healthy."""
    requested = {"api": api_port, "postgres": pg_port, "toxiproxy": toxiproxy_port, "partner": partner_port}
    try:
        info = lifecycle.up(state_dir, faults=faults, ports=requested, timeout_s=timeout_s, progress=_progress)
    except StackError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(_public(info), indent=2, sort_keys=True))
        return
    click.echo(f"api         {info['api_url']}")
    click.echo(f"toxiproxy   {info['toxiproxy_url']}")
    for name, proxy in info["proxies"].items():
        click.echo(f"proxy       {name:<12} {proxy['listen']} -> {proxy['upstream']}")
    click.echo(f"postgres    {info['database']['host']}:{info['database']['port']} (db {info['database']['name']})")
    click.echo(f"partner     {info['partner_url']} (control {info['partner_control_url']})")
    click.echo(f"faults      {', '.join(info['faults']) or 'none'}")
    click.echo(f"stack.json  {Path(info['state_dir']) / 'stack.json'} (secrets and seed passwords)")


def _public(info: dict) -> dict:
    """stack.json without secrets (the file itself has them, mode 0600)."""
    hidden = {"admin_token", "signing_key", "seed", "database"}
    out = {k: v for k, v in info.items() if k not in hidden}
    out["database"] = {k: v for k, v in info["database"].items() if "password" not in k and "url" not in k}
    return out


@twin.command()
@state_option
@click.option("--grace", "grace_s", type=float, default=10.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL.")
def down(state_dir, grace_s):
    """Stop every process of the stack and verify none is left (data and logs stay)."""
    try:
        lifecycle.down(state_dir, grace_s=grace_s, progress=_progress)
    except StackError as exc:
        _fail(exc)
    click.echo("down: no process of the stack is left")


@twin.command()
@state_option
@click.option("--json", "as_json", is_flag=True)
def status(state_dir, as_json):
    """Each component: pid, port, alive, healthy. Exit 0 when all are healthy, 1 otherwise."""
    try:
        report = lifecycle.status(state_dir)
    except StackError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
    elif not report["components"]:
        click.echo(f"down (state dir {report['state_dir']})")
    else:
        click.echo(f"{'up' if report['up'] else 'NOT HEALTHY'} (state dir {report['state_dir']}; "
                   f"faults {', '.join(report['faults']) or 'none'})")
        click.echo(f"{'component':<10} {'pid':>7} {'port':>6}  alive  healthy  detail")
        for name, comp in report["components"].items():
            click.echo(f"{name:<10} {comp['pid']:>7} {comp['port'] or '-':>6}  {'yes' if comp['alive'] else 'NO':<5}  "
                       f"{'yes' if comp['healthy'] else 'NO':<7}  {comp['detail']}")
    sys.exit(0 if report["up"] else 1)


@twin.command()
@state_option
@click.option("--json", "as_json", is_flag=True)
def faults(state_dir, as_json):
    """List the twin's fault switches (name, behaviour ID it breaks, on/off), from the running twin."""
    try:
        info = lifecycle.require_up(state_dir)
    except StackError as exc:
        _fail(exc)
    try:
        switches = lifecycle.fault_switches(info)
    except StackError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(switches, indent=2))
        return
    width = max([len(s["name"]) for s in switches] + [4])
    click.echo(f"{'name':<{width}}  {'breaks':<9} on   description")
    for s in switches:
        click.echo(f"{s['name']:<{width}}  {s.get('behaviour', ''):<9} {'yes' if s.get('enabled') else 'no ':<4} "
                   f"{s.get('description', '')}")
    click.echo("start with some on: cloudflow-checks twin up --fault NAME[,NAME]")


if __name__ == "__main__":
    twin()
