"""Detect and track: hotspot statistics, concentration, emerging hotspots, near repeats."""

from crimemap.detect.concentration import (
    Concentration,
    LorenzCurve,
    concentration,
    generalised_gini,
    gini,
    lorenz,
    poisson_lorenz,
    top_share,
)
from crimemap.detect.emerging import (
    CATEGORIES,
    EmergingResult,
    emerging_hotspots,
    space_time_gi_star,
)
from crimemap.detect.fdr import fdr_bh
from crimemap.detect.gistar import GiStarResult, gi_star, gi_star_z
from crimemap.detect.harm import HARM_SOURCE, aggregate_weights, harm_weights
from crimemap.detect.kde import KdeResult, kde_at, kde_grid, kernel
from crimemap.detect.knox import KnoxResult, knox_test
from crimemap.detect.lisa import LISA_LABELS, LisaResult, local_moran
from crimemap.detect.outputs import UnitSpec, parse_unit
from crimemap.detect.pipeline import METHODS, HotspotRun, clip_to_area, run_hotspots
from crimemap.detect.trend import MannKendall, mann_kendall

__all__ = [
    "CATEGORIES",
    "Concentration",
    "EmergingResult",
    "LorenzCurve",
    "MannKendall",
    "concentration",
    "emerging_hotspots",
    "generalised_gini",
    "gini",
    "lorenz",
    "mann_kendall",
    "poisson_lorenz",
    "space_time_gi_star",
    "top_share",
    "METHODS",
    "HotspotRun",
    "UnitSpec",
    "clip_to_area",
    "parse_unit",
    "run_hotspots",
    "KdeResult",
    "KnoxResult",
    "kde_at",
    "kde_grid",
    "kernel",
    "knox_test",
    "HARM_SOURCE",
    "LISA_LABELS",
    "GiStarResult",
    "LisaResult",
    "aggregate_weights",
    "fdr_bh",
    "gi_star",
    "gi_star_z",
    "harm_weights",
    "local_moran",
]
