"""Synthetic incidents and a recording test model for the evaluate tests."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from crimemap.forecast.base import BaseForecaster
from crimemap.forecast.surface import RiskSurface
from crimemap.spatial.grid import cell_index
from crimemap.spatial.units import Units
from crimemap.table import IncidentTable

# Cell centres of a 250 m grid: A=(0,0), B=(1,0), C=(0,1), D=(2,0).
CELLS = {"A": (125.0, 125.0), "B": (375.0, 125.0), "C": (125.0, 375.0), "D": (625.0, 125.0)}
ROWS = [
    ("burglary", "2020-01", "A"),
    ("anti-social-behaviour", "2020-01", "B"),
    ("burglary", "2020-02", "A"),
    ("burglary", "2020-02", "A"),
    ("violent-crime", "2020-02", "C"),
    ("violent-crime", "2020-03", "A"),
    ("burglary", "2020-03", "D"),
    ("burglary", "2020-04", "A"),
    ("burglary", "2020-04", "B"),
    ("violent-crime", "2020-04", "D"),
    ("burglary", "2020-04", None),
    ("burglary", "2020-05", "C"),
]


def table(rows=ROWS, shift=(0.0, 0.0), precision="month") -> IncidentTable:
    x = [CELLS[c][0] + shift[0] if c else None for _, _, c in rows]
    y = [CELLS[c][1] + shift[1] if c else None for _, _, c in rows]
    return IncidentTable.from_columns(
        category=[r[0] for r in rows],
        t_start=np.array([r[1] for r in rows], dtype="datetime64[M]").astype("datetime64[s]"),
        t_precision=[precision] * len(rows),
        x=x,
        y=y,
    )


class Recorder(BaseForecaster):
    """Test model: remembers what it was given; forecasts each cell's training count."""

    name = "_test_recorder"
    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, *, freq: str = "M", wrong_units: bool = False) -> None:
        self.freq = freq
        self.wrong_units = wrong_units

    def fit(
        self,
        events: IncidentTable,
        *,
        units: Units,
        until: np.datetime64,
        context: IncidentTable | None = None,
    ) -> Recorder:
        t = events.arrow["t_start"].to_numpy().astype("datetime64[s]")
        ct = (
            context.arrow["t_start"].to_numpy().astype("datetime64[s]")
            if context is not None
            else t[:0]
        )
        Recorder.seen.append(
            {
                "until": np.datetime64(until, "s"),
                "max_t": t.max() if len(t) else None,
                "categories": set(events.arrow["category"].to_pylist()),
                "context_max_t": ct.max() if len(ct) else None,
                "context_n": len(ct),
                "context_categories": (
                    set(context.arrow["category"].to_pylist()) if context is not None else set()
                ),
                "n_units": len(units),
                "freq": self.freq,
            }
        )
        pos = cell_index(units, events)
        self.counts_ = np.bincount(pos[pos >= 0], minlength=len(units)).astype(float)
        self.units_ = units.subset(np.arange(len(units)) > 0) if self.wrong_units else units
        return self

    def predict(self, *, start: np.datetime64, end: np.datetime64) -> RiskSurface:
        n = len(self.units_)
        return RiskSurface(
            model=self.name, units=self.units_, start=start, end=end, mean=self.counts_[:n]
        )
