"""Hand prepared back-test data to worker processes through memory-mapped Arrow files.

Pickling a force's prepared data (every incident plus each crime set's
incidents, ~370 MB for Northumbria) to each spawned worker cost about 2.5 s of
a parallel back-test's start (serial pickling in the parent, the pipe, and
unpickling in each worker), and every worker then held its own copy. Instead
the parent writes each table once to an Arrow IPC file in a temporary
directory, and each worker memory-maps the files: reading is zero-copy, and
the pages are shared between the workers through the page cache. Only the
small remainder (units, cubes, periods) is pickled.

The files belong to the run: :func:`spill` writes into a directory the caller
owns and removes (``tempfile.TemporaryDirectory``) after the workers have
stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["Spilled", "spill", "unspill"]


@dataclass(frozen=True)
class Spilled:
    """A picklable handle: how to rebuild the object and where its tables are."""

    rebuild: Callable[[dict[str, Any]], Any]
    state: dict[str, Any]
    #: State key -> file, or state key -> {sub key -> file} for mappings of tables.
    files: dict[str, Any]


def _write(table: pa.Table, path: Path) -> str:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
        w.write_table(table)
    return str(path)


def _read(path: str) -> pa.Table:
    # memory_map + read_all: the table's buffers point into the mapped file.
    return pa.ipc.open_file(pa.memory_map(path, "r")).read_all()


def spill(obj: Any, directory: Path) -> Spilled:
    """Write the Arrow tables of ``obj``'s pickled state into ``directory``.

    ``obj.__reduce__()`` must return ``(rebuild, (state,))`` with ``state`` a
    dict whose values may be Arrow tables or dicts of Arrow tables (as
    :class:`~crimemap.evaluate.prepared.PreparedData` does).
    """
    rebuild, (state,) = obj.__reduce__()
    state = dict(state)
    files: dict[str, Any] = {}
    n = 0
    for key, value in list(state.items()):
        if isinstance(value, pa.Table):
            files[key] = _write(value, directory / f"t{n}.arrow")
            n += 1
            del state[key]
        elif (
            isinstance(value, dict)
            and value
            and all(isinstance(v, pa.Table) for v in value.values())
        ):
            files[key] = {}
            for sub, t in value.items():
                files[key][sub] = _write(t, directory / f"t{n}.arrow")
                n += 1
            del state[key]
    return Spilled(rebuild=rebuild, state=state, files=files)


def unspill(handle: Spilled) -> Any:
    """The object again, its tables memory-mapped from the spilled files."""
    state = dict(handle.state)
    for key, f in handle.files.items():
        state[key] = {k: _read(p) for k, p in f.items()} if isinstance(f, dict) else _read(f)
    return handle.rebuild(state)
