"""Seeded simulator of the binned grid ETAS model (for tests and parameter-recovery checks).

Background counts are Poisson(``mu``) per cell and bin; every event has
Poisson(``theta``) offspring, each at a geometric lag ``l >= 1`` (``P(l) =
(1 - q) q^(l-1)``) and at a disc offset drawn from the cell-integrated,
truncated Gaussian of :mod:`._etas_kernel`, generation by generation.
Offspring that land outside the block or after the last bin are lost, as in
the model's likelihood.
"""

from __future__ import annotations

import numpy as np

from crimemap.forecast._etas_kernel import _class_of, class_mass, disc_offsets

__all__ = ["simulate_grid_etas"]


def simulate_grid_etas(
    shape: tuple[int, int],
    n_bins: int,
    *,
    mu: np.ndarray | float,
    theta: float,
    q: float,
    sigma_cells: float,
    radius_cells: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate counts ``(ni * nj, n_bins)`` on an ``ni x nj`` block.

    Returns
    -------
    counts : numpy.ndarray
        Integer counts per cell (row-major over ``(i, j)``) and bin.
    n_background : numpy.ndarray
        The background part of ``counts``.
    """
    rng = np.random.default_rng(seed)
    ni, nj = shape
    n = ni * nj
    mu_arr = np.broadcast_to(np.asarray(mu, float), (n,))
    bg = rng.poisson(mu_arr[:, None] * np.ones((1, n_bins)))
    counts = bg.copy()
    off = disc_offsets(radius_cells)
    classes, inv, mult = np.unique(_class_of(off), axis=0, return_inverse=True, return_counts=True)
    mass = class_mass(classes, mult, sigma_cells)[inv.ravel()]
    mass = mass / mass.sum()
    gen = bg
    while gen.sum() > 0:
        cell, t = np.nonzero(gen)
        n_kids = rng.poisson(theta * gen[cell, t])
        cell = np.repeat(cell, n_kids)
        t = np.repeat(t, n_kids)
        lag = rng.geometric(1.0 - q, size=len(t))
        o = off[rng.choice(len(off), size=len(t), p=mass)]
        i = cell // nj + o[:, 0]
        j = cell % nj + o[:, 1]
        tt = t + lag
        ok = (i >= 0) & (i < ni) & (j >= 0) & (j < nj) & (tt < n_bins)
        nxt = np.zeros_like(counts)
        np.add.at(nxt, (i[ok] * nj + j[ok], tt[ok]), 1)
        counts += nxt
        gen = nxt
    return counts, bg
