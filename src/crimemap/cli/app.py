"""The ``crimemap`` command line (a thin layer over the library)."""

from __future__ import annotations

import typer

from crimemap.cli._common import apply_runtime, settings
from crimemap.cli.demo import demo_command
from crimemap.cli.ingest_cmd import (
    export_command,
    ingest_command,
    maintain_command,
    status_command,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="crimemap",
    help="Pool, detect, track and forecast concentrations of crime. Places and times, never people.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _runtime() -> None:
    # Runs before every command: the process tuning of the settings.
    apply_runtime(settings())


app.command("ingest")(ingest_command)
app.command("status")(status_command)
app.command("export")(export_command)
app.command("demo")(demo_command)
app.command("maintain")(maintain_command)


def _register_optional() -> None:
    """Commands whose modules belong to later pipeline stages."""
    import importlib

    for module, attr, name in [
        ("crimemap.cli.hotspots", "hotspots", "hotspots"),
        ("crimemap.cli.backtest", "backtest", "backtest"),
        ("crimemap.cli.forecast", "forecast", "forecast"),
        ("crimemap.cli.serve", "serve", "serve"),
        ("crimemap.cli.plan", "plan", "plan"),
        ("crimemap.cli.fairness", "fairness", "fairness"),
        ("crimemap.cli.transparency", "transparency", "transparency"),
        ("crimemap.cli.synth", "synth", "synth"),
    ]:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        app.command(name)(getattr(mod, attr))


_register_optional()


def _register_groups() -> None:
    """Sub-command groups: ``crimemap users …`` and ``crimemap audit …``."""
    import importlib

    for module, group, commands in [
        (
            "crimemap.cli.users",
            "users",
            {"add": "users_add", "revoke": "users_revoke", "list": "users_list"},
        ),
        ("crimemap.cli.audit", "audit", {"verify": "audit_verify", "show": "audit_show"}),
    ]:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        first = (mod.__doc__ or "").strip().splitlines()[0]
        sub = typer.Typer(help=first.split(": ", 1)[-1], no_args_is_help=True)
        for name, attr in commands.items():
            sub.command(name)(getattr(mod, attr))
        app.add_typer(sub, name=group)


_register_groups()


def main() -> None:
    """Console-script entry point."""
    app()
