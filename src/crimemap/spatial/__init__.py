"""Spatial units (grid, H3, LSOA), projections and space-time count cubes."""

from crimemap.spatial.covariates import (
    LsoaCovariates,
    UnitCovariates,
    cell_lsoa,
    read_imd,
    unit_covariates,
)
from crimemap.spatial.cube import (
    CountCube,
    bin_starts,
    category_weights,
    check_freq,
    count_cube,
    cube_from_positions,
)
from crimemap.spatial.grid import Grid, cell_index, grid_units
from crimemap.spatial.h3units import h3_cells, h3_cube, h3_index, h3_units, h3_units_from_cells
from crimemap.spatial.lsoa import (
    FORCE_LADS,
    LsoaPolygons,
    force_lsoa_files,
    grid_study_area,
    lsoa_cube,
    lsoa_index,
    read_lsoa_polygons,
)
from crimemap.spatial.units import Units
from crimemap.spatial.weights import (
    grid_contiguity,
    h3_kring,
    polygon_contiguity,
    row_standardise,
    unit_weights,
)

__all__ = [
    "CountCube",
    "FORCE_LADS",
    "Grid",
    "LsoaCovariates",
    "LsoaPolygons",
    "UnitCovariates",
    "Units",
    "bin_starts",
    "category_weights",
    "cell_lsoa",
    "check_freq",
    "cell_index",
    "count_cube",
    "cube_from_positions",
    "force_lsoa_files",
    "grid_contiguity",
    "grid_study_area",
    "grid_units",
    "h3_cells",
    "h3_cube",
    "h3_index",
    "h3_kring",
    "h3_units",
    "h3_units_from_cells",
    "lsoa_cube",
    "lsoa_index",
    "polygon_contiguity",
    "read_imd",
    "read_lsoa_polygons",
    "row_standardise",
    "unit_covariates",
    "unit_weights",
]
