"""Spatial units (grid, H3, LSOA), projections and space-time count cubes."""

from crimemap.spatial.cube import CountCube, bin_starts, count_cube, cube_from_positions
from crimemap.spatial.grid import Grid, cell_index, grid_units
from crimemap.spatial.units import Units

__all__ = [
    "CountCube",
    "Grid",
    "Units",
    "bin_starts",
    "cell_index",
    "count_cube",
    "cube_from_positions",
    "grid_units",
]
