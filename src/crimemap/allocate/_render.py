"""Private: draw one printable briefing page (A4 portrait PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from crimemap.allocate.plan import PatrolPlan

__all__ = ["render_page"]

_CONTEXT_M = 750.0  # forecast cells drawn around the area, for orientation


def _map(ax: Any, plan: PatrolPlan, cells: np.ndarray) -> None:
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    units = plan.units
    assert units.ij is not None and units.cell_size is not None
    s = float(units.cell_size)
    xy = units.ij * s
    x0, y0 = xy[cells].min(axis=0) - _CONTEXT_M
    x1, y1 = xy[cells].max(axis=0) + s + _CONTEXT_M
    near = np.flatnonzero((xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1))
    vals = plan.scores[near]
    rects = [Rectangle((xy[i, 0], xy[i, 1]), s, s) for i in near]
    pc = PatchCollection(rects, cmap="YlOrRd", edgecolor="#bbbbbb", linewidth=0.3)
    pc.set_array(vals)
    ax.add_collection(pc)
    import shapely

    own = shapely.union_all(
        shapely.box(xy[cells, 0], xy[cells, 1], xy[cells, 0] + s, xy[cells, 1] + s)
    )
    for poly in getattr(own, "geoms", [own]):
        bx, by = np.asarray(poly.exterior.coords).T
        ax.plot(bx, by, color="#08306b", linewidth=2.5)
    cx, cy = xy[cells[0]] + s / 2
    ax.plot([cx], [cy], marker="+", color="#08306b", markersize=12)
    # Scale bar of 500 m in the lower-left corner.
    ax.plot([x0 + 100, x0 + 600], [y0 + 100, y0 + 100], color="black", linewidth=3)
    ax.text(x0 + 350, y0 + 160, "500 m", ha="center", fontsize=8)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    cb = ax.figure.colorbar(pc, ax=ax, fraction=0.035, pad=0.02)
    cb.set_label("forecast per cell")


def render_page(plan: PatrolPlan, brief: Any, path: Path | BinaryIO, *, title: str = "") -> Any:
    """Write the page of one area to ``path`` (a PNG file or a binary stream)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = brief.area
    fig = plt.figure(figsize=(8.27, 11.69), dpi=100)
    head = f"Patrol area {a.rank} of {len(plan.areas)}"
    when = f"{str(plan.params['start'])[:10]} to {str(plan.params['end'])[:10]}"
    fig.suptitle(f"{head}  -  {title}\nforecast window {when}", fontsize=13, y=0.98)
    ax = fig.add_axes((0.06, 0.45, 0.88, 0.47))
    _map(ax, plan, a.cells)
    lon, lat = brief.centre_lonlat
    lines = [
        f"Centre: lat {lat:.5f}, lon {lon:.5f}   (cell {a.centre})",
        f"Size: {len(a.cells)} cells, {a.area_km2:.2f} km2",
        f"Expected incidents in the window: {a.expected:.1f} "
        f"({100 * brief.share:.1f} % of the force's forecast)",
        "",
    ]
    if brief.by_category:
        lines.append("Expected by category:")
        for c, v in list(brief.by_category.items())[:8]:
            lines.append(f"    {c:<28} {v:6.1f}")
        lines.append("")
    if brief.drivers:
        tot = sum(brief.drivers.values()) or 1.0
        lines.append("Main drivers of the forecast:")
        for c, v in list(brief.drivers.items())[:4]:
            lines.append(f"    {c:<28} {v:6.1f}  ({100 * v / tot:.0f} %)")
        lines.append("")
    if brief.times is not None and brief.times.best:
        lines.append(f"Busiest times in the past ({brief.times.n} incidents with times):")
        lines += [f"    {b}" for b in brief.times.best]
    else:
        lines.append("Times of day: not available (the source gives months only).")
    fig.text(0.07, 0.41, "\n".join(lines), va="top", family="monospace", fontsize=9.5)
    fig.text(
        0.07,
        0.03,
        f"Plan: {plan.method} ({plan.status}), gap to bound {100 * plan.gap:.1f} %. "
        f"Model {plan.params['model']}. Places and times only - never people.",
        fontsize=8,
        color="#555555",
    )
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
    return path
