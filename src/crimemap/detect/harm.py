"""Harm weights for the 14 canonical categories.

Method
------
A harm weight turns a count of crimes into a sum of harm: every incident of
category ``c`` contributes ``harm_weights()[c]`` instead of 1. Pass the
mapping as ``weights=`` to :func:`crimemap.spatial.count_cube` and every
count, hotspot, concentration measure or trend built on the cube is computed
as harm instead of volume.

The weights follow the ONS **Crime Severity Score** (CSS) (Office for National
Statistics, 2016, *Research outputs: developing a Crime Severity Score for
England and Wales using data on crimes recorded by the police*, 29 Nov 2016;
dataset *Crime Severity Score (Experimental Statistics)*). The CSS gives each
Home Office notifiable offence code a weight equal to the average number of
days of custody its sentences are equivalent to (custody, community orders and
fines converted to custody-days, averaged over all sentences for the offence).

police.uk publishes 14 broad categories, each a group of many offence codes.
A category's weight is the **volume-weighted mean** of the CSS weights of its
offence groups::

    w_c = sum_k n_k * css_k / sum_k n_k

where ``k`` runs over the Home Office police recorded crime *offence
subgroups* that make up category ``c`` (the mapping police.uk documents for
its categories: e.g. burglary = residential + non-residential burglary;
violence and sexual offences = homicide, violence with and without injury,
stalking and harassment, death or serious injury by unlawful driving, rape
and other sexual offences), ``css_k`` is the subgroup's CSS weight (the
volume-weighted mean of its offence codes' weights) and ``n_k`` the number of
offences of subgroup ``k`` recorded in England and Wales (Home Office police
recorded crime open data tables). :func:`aggregate_weights` implements exactly
this, so the table can be rebuilt from the ONS weight list and the Home
Office counts.

.. warning::
   The component weights and volume shares in :data:`CSS_COMPONENTS` were
   transcribed for this project without network access to the ONS
   spreadsheet; they are **provisional** (rounded, order-of-magnitude
   correct) and must be re-derived from the ONS "List of weights" sheet and
   the Home Office open data tables before results are published. The
   aggregation method and code do not change when the numbers do.

Anti-social behaviour is not a notifiable offence and has no CSS weight; it
gets weight 0, so harm maps leave it out (as the ``all-crime`` set does).

References
----------
* ONS (2016). Research outputs: developing a Crime Severity Score for England
  and Wales using data on crimes recorded by the police.
* Ashby, M. P. J. (2018). Comparing methods for measuring crime harm/severity.
  *Policing* 12(4), 439-454. doi:10.1093/police/pax049
* Sherman, L., Neyroud, P. W. & Neyroud, E. (2016). The Cambridge Crime Harm
  Index. *Policing* 10(3), 171-183 (an alternative, starting-point based
  index; not used here).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from crimemap.errors import InputError
from crimemap.taxonomy import CATEGORY_SLUGS

__all__ = ["CSS_COMPONENTS", "aggregate_weights", "harm_weights", "HARM_SOURCE"]

HARM_SOURCE = (
    "ONS Crime Severity Score offence weights (ONS 2016), volume-weighted to "
    "police.uk categories; PROVISIONAL component values, see crimemap.detect.harm"
)

#: category -> ((Home Office PRC offence subgroup, CSS weight in custody-days,
#: national volume share), ...). The subgroups are those of the Home Office
#: "Police recorded crime, Police Force Area open data tables", which is the
#: finest level at which offence counts (the volumes) are published; each
#: subgroup's CSS weight is itself the volume-weighted mean of the ONS weights
#: of its offence codes. PROVISIONAL values (see the module warning).
#: Shares within a category sum to 1.
CSS_COMPONENTS: Mapping[str, tuple[tuple[str, float, float], ...]] = MappingProxyType(
    {
        "anti-social-behaviour": (("not a notifiable offence (no CSS weight)", 0.0, 1.0),),
        "bicycle-theft": (("Bicycle theft", 11.0, 1.0),),
        "burglary": (
            ("Residential burglary", 437.0, 0.65),
            ("Non-residential burglary", 130.0, 0.35),
        ),
        "criminal-damage-arson": (
            ("Criminal damage", 9.0, 0.94),
            ("Arson", 200.0, 0.06),
        ),
        "drugs": (
            ("Possession of drugs", 4.0, 0.80),
            ("Trafficking of drugs", 148.0, 0.20),
        ),
        "other-theft": (("Other theft offences", 15.0, 1.0),),
        "possession-of-weapons": (("Possession of weapons offences", 78.0, 1.0),),
        "public-order": (("Public order offences", 30.0, 1.0),),
        "robbery": (
            ("Robbery of personal property", 600.0, 0.90),
            ("Robbery of business property", 700.0, 0.10),
        ),
        "shoplifting": (("Shoplifting", 9.0, 1.0),),
        "theft-from-the-person": (("Theft from the person", 45.0, 1.0),),
        "vehicle-crime": (("Vehicle offences", 31.0, 1.0),),
        "violent-crime": (
            ("Violence without injury", 13.0, 0.33),
            ("Stalking and harassment", 40.0, 0.35),
            ("Violence with injury", 203.0, 0.2493),
            ("Other sexual offences", 250.0, 0.045),
            ("Rape offences", 1700.0, 0.025),
            ("Homicide", 7979.0, 0.0004),
            ("Death or serious injury - unlawful driving", 1500.0, 0.0003),
        ),
        "other-crime": (("Miscellaneous crimes against society", 50.0, 1.0),),
    }
)


def aggregate_weights(
    components: Mapping[str, tuple[tuple[str, float, float], ...]],
) -> dict[str, float]:
    """Volume-weighted mean CSS weight of each category.

    Parameters
    ----------
    components : mapping
        Category slug -> sequence of ``(offence group, css_weight, volume)``;
        volumes may be counts or shares (only their ratios matter).

    Returns
    -------
    dict
        Category slug -> ``sum(volume * weight) / sum(volume)``.

    Raises
    ------
    crimemap.errors.InputError
        If a weight or volume is negative or a category has zero volume.
    """
    out: dict[str, float] = {}
    for cat, parts in components.items():
        vol = sum(float(v) for _, _, v in parts)
        if any(w < 0 or v < 0 for _, w, v in parts) or vol <= 0:
            raise InputError(f"harm components of {cat!r} need non-negative weights and volume > 0")
        out[cat] = sum(float(w) * float(v) for _, w, v in parts) / vol
    return out


_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {k: round(v, 1) for k, v in aggregate_weights(CSS_COMPONENTS).items()}
)


def harm_weights() -> Mapping[str, float]:
    """Harm weight (CSS custody-day equivalents) of each canonical category.

    Returns
    -------
    Mapping[str, float]
        Read-only mapping with one entry for each of the 14 canonical
        category slugs; anti-social behaviour is 0. Use as
        ``count_cube(..., weights=harm_weights())``.
    """
    missing = set(CATEGORY_SLUGS) - set(_WEIGHTS)
    if missing:  # pragma: no cover - guards the table against taxonomy drift
        raise InputError(f"harm table lacks categories: {sorted(missing)}")
    return _WEIGHTS
