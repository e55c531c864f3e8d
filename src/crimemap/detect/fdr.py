"""Benjamini-Hochberg false discovery rate control.

Testing thousands of cells at 5 % each flags hundreds of cells by chance
alone. The Benjamini-Hochberg (1995) step-up procedure bounds the expected
share of false discoveries among the cells called significant. ``fdr_bh``
returns BH-adjusted p-values ("q-values"): a cell is significant at FDR
level ``alpha`` when its q-value is <= ``alpha``.

References
----------
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate: a
practical and powerful approach to multiple testing. *JRSS B* 57(1), 289-300.
Caldas de Castro, M. & Singer, B. H. (2006). Controlling the false discovery
rate: a new application to account for multiple and dependent tests in local
statistics of spatial association. *Geographical Analysis* 38(2), 180-208.
"""

from __future__ import annotations

import numpy as np

from crimemap.errors import InputError

__all__ = ["fdr_bh"]


def fdr_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values.

    Parameters
    ----------
    p : array
        p-values in [0, 1]; NaN entries are ignored (and stay NaN).

    Returns
    -------
    numpy.ndarray
        ``q[i] = min_{j: p_j >= p_i} p_j * m / rank(p_j)``, clipped to 1,
        where ``m`` is the number of non-NaN p-values.
    """
    p = np.asarray(p, float)
    if np.any((p < 0) | (p > 1)):
        raise InputError("p-values must lie in [0, 1]")
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    m = len(pv)
    if m == 0:
        return q
    order = np.argsort(pv, kind="stable")
    scaled = pv[order] * m / np.arange(1, m + 1)
    # Step-up: running minimum from the largest p-value down.
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    q[ok] = out
    return q
