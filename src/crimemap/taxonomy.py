"""The canonical crime taxonomy.

crimemap harmonises every source onto the 14 street-level categories that
data.police.uk publishes (Home Office Counting Rules groups), identified by
the same slugs that the data.police.uk API uses. Each source supplies a
mapping table from its own labels to these slugs; a label that is not in the
table stops the ingest (see :mod:`crimemap.ingest`).

Crime sets group categories for analysis and back-tests. Police-initiated
categories (drugs, possession of weapons) are kept apart because their
records measure police activity as much as crime.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "Category",
    "CATEGORIES",
    "CATEGORY_SLUGS",
    "POLICE_UK_LABELS",
    "POLICE_INITIATED",
    "CRIME_SETS",
    "category",
    "crime_set",
]


@dataclass(frozen=True, slots=True)
class Category:
    """One canonical category: its stable slug and its police.uk label."""

    slug: str
    label: str


CATEGORIES: tuple[Category, ...] = (
    Category("anti-social-behaviour", "Anti-social behaviour"),
    Category("bicycle-theft", "Bicycle theft"),
    Category("burglary", "Burglary"),
    Category("criminal-damage-arson", "Criminal damage and arson"),
    Category("drugs", "Drugs"),
    Category("other-theft", "Other theft"),
    Category("possession-of-weapons", "Possession of weapons"),
    Category("public-order", "Public order"),
    Category("robbery", "Robbery"),
    Category("shoplifting", "Shoplifting"),
    Category("theft-from-the-person", "Theft from the person"),
    Category("vehicle-crime", "Vehicle crime"),
    Category("violent-crime", "Violence and sexual offences"),
    Category("other-crime", "Other crime"),
)

CATEGORY_SLUGS: tuple[str, ...] = tuple(c.slug for c in CATEGORIES)

#: police.uk ``Crime type`` label -> canonical slug. Older releases split
#: violence and public order differently; those labels map to their successors.
POLICE_UK_LABELS: MappingProxyType[str, str] = MappingProxyType(
    {
        **{c.label: c.slug for c in CATEGORIES},
        "Violent crime": "violent-crime",
        "Public disorder and weapons": "public-order",
    }
)

POLICE_INITIATED: frozenset[str] = frozenset({"drugs", "possession-of-weapons"})

#: Named crime sets used by detection, forecasting and back-tests.
CRIME_SETS: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        "all-crime": frozenset(CATEGORY_SLUGS) - {"anti-social-behaviour"},
        "all-crime-victim": frozenset(CATEGORY_SLUGS)
        - {"anti-social-behaviour"}
        - POLICE_INITIATED,
        "violence": frozenset({"violent-crime"}),
        "burglary": frozenset({"burglary"}),
        "robbery": frozenset({"robbery"}),
        "asb": frozenset({"anti-social-behaviour"}),
        "police-initiated": POLICE_INITIATED,
        **{c.slug: frozenset({c.slug}) for c in CATEGORIES},
    }
)


def category(slug: str) -> Category:
    """Return the canonical category with this slug.

    Raises
    ------
    crimemap.errors.NotFoundError
        If ``slug`` is not a canonical category.
    """
    from crimemap.errors import NotFoundError

    for c in CATEGORIES:
        if c.slug == slug:
            return c
    raise NotFoundError(f"unknown category {slug!r}; known: {', '.join(CATEGORY_SLUGS)}")


def crime_set(name: str) -> frozenset[str]:
    """Return the category slugs of a named crime set (or a single category).

    Raises
    ------
    crimemap.errors.NotFoundError
        If ``name`` is neither a crime set nor a category slug.
    """
    from crimemap.errors import NotFoundError

    try:
        return CRIME_SETS[name]
    except KeyError:
        raise NotFoundError(f"unknown crime set {name!r}; known: {', '.join(CRIME_SETS)}") from None
