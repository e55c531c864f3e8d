"""Shared CLI plumbing: settings, store, progress bars and error display."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crimemap.errors import CrimemapError, IngestError
from crimemap.settings import Settings
from crimemap.store import Store, open_store

__all__ = [
    "apply_runtime",
    "cli_actor",
    "console",
    "settings",
    "store_from_cli",
    "progress_bar",
    "handle_errors",
]

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def settings() -> Settings:
    """The settings for this process (environment + .env)."""
    return Settings()


def apply_runtime(s: Settings) -> str:
    """Process-wide tuning of a CLI process; returns the Arrow pool in use.

    Only the outer layer may change process-global state. The allocator for
    Arrow buffers matters for ingest: pyarrow's default mimalloc hands freshly
    faulted pages to every large parse, and in a cold process that costs more
    kernel time than the parse itself (see the ingest benchmark). A pool that
    this pyarrow build lacks leaves the default in place.
    """
    import pyarrow as pa

    makers = {
        "jemalloc": pa.jemalloc_memory_pool,
        "mimalloc": pa.mimalloc_memory_pool,
        "system": pa.system_memory_pool,
    }
    make = makers.get(s.arrow_memory_pool)
    if make is not None:
        try:
            pa.set_memory_pool(make())
        except NotImplementedError:
            err_console.print(
                f"[yellow]warning:[/yellow] this pyarrow has no {s.arrow_memory_pool} pool; "
                f"using {pa.default_memory_pool().backend_name}",
                markup=True,
            )
    return pa.default_memory_pool().backend_name


def cli_actor() -> str:
    """Who is acting, for the audit log: the operating-system user of the CLI."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def store_from_cli(store: str | None, *, read_only: bool = False) -> Store:
    """Open the store named on the command line, else the configured one."""
    return open_store(store or settings().store, read_only=read_only)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A Rich progress bar; yields an ``update(done, total)`` callback."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
        disable=not sys.stderr.isatty(),
    ) as prog:
        task = prog.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            prog.update(task, completed=done, total=total)

        yield update


def handle_errors(fn: F) -> F:
    """Print domain errors plainly (no traceback) and exit with status 1 or 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except IngestError as exc:
            err_console.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
            raise SystemExit(2) from None
        except CrimemapError as exc:
            err_console.print(f"[red]error:[/red] {exc}", markup=True, soft_wrap=True)
            raise SystemExit(1) from None

    return wrapper  # type: ignore[return-value]
