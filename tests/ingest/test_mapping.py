"""Partner mapping files: validation errors name the file, the key and the problem."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from crimemap.errors import ConfigError
from crimemap.ingest._mapping import MAPPINGS_DIR, builtin_mapping, load_mapping
from crimemap.taxonomy import CATEGORY_SLUGS

BASE: dict[str, Any] = {
    "source": "test-src",
    "force": "test-force",
    "timezone": "Europe/London",
    "id": {"columns": ["ref"]},
    "time": {"column": "when", "formats": ["%Y-%m-%d"], "precision": "day"},
    "location": {"x": "east", "y": "north", "crs": 27700, "store_crs": 27700},
    "category": {"column": "type", "labels": {"Burglary": "burglary"}},
}


def variant(**changes: Any) -> dict[str, Any]:
    """BASE with dotted-key changes (value None deletes the key)."""
    m = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = m
        for p in path:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return m


def config_error(spec: Any) -> str:
    with pytest.raises(ConfigError) as ei:
        load_mapping(spec)
    return str(ei.value)


def test_base_mapping_is_valid() -> None:
    m = load_mapping(BASE)
    assert m.source == "test-src" and m.location.crs == "EPSG:27700"
    assert m.required_columns() == sorted(["ref", "when", "east", "north", "type"])


@pytest.mark.parametrize("name", ["stl-slmpd", "nij-portland"])
def test_builtin_mappings_load(name: str) -> None:
    m = load_mapping(builtin_mapping(name))
    assert m.source == name
    assert set(m.category.labels.values()) <= set(CATEGORY_SLUGS) | {"drop"}
    # A bare name selects the shipped file too.
    assert load_mapping(name) == m


def test_unknown_builtin_mapping() -> None:
    with pytest.raises(ConfigError, match="no built-in mapping 'nope'.*stl-slmpd"):
        builtin_mapping("nope")


@pytest.mark.parametrize(
    ("changes", "key", "problem"),
    [
        ({"category__labels": {"Burglary": "burglry"}}, "category", "unknown slug(s) ['burglry']"),
        ({"category__unmapped": "sometimes"}, "category", "unmapped must be"),
        ({"category__regex": "(a)(b)"}, "category", "exactly one capture group"),
        ({"category__regex": "(unclosed"}, "category.regex", "invalid regular expression"),
        ({"location__crs": "EPSG:999999"}, "location", "unknown crs"),
        ({"location__crs": None}, "location", "x/y need a crs"),
        ({"location__y": None}, "location", "give both x and y"),
        # An empty column name passed and failed later as a KeyError (found by test_fuzz).
        ({"location__x": ""}, "location.x", "at least 1 character"),
        ({"category__column": ""}, "category.column", "at least 1 character"),
        ({"location__store_crs": 4326}, "location", "must be a projected"),
        ({"location__bounds": [10, 50, 5, 55]}, "location", "bounds must be"),
        ({"location__address": "addr"}, "location", "address needs a lookup"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown IANA time zone"),
        ({"encoding": "klingon-8"}, "encoding", "unknown encoding"),
        ({"format": "xlsx"}, "format", "'csv' or 'shapefile'"),
        ({"time__precision": "hour"}, "time.precision", "'minute', 'day' or 'month'"),
        ({"time__formats": []}, "time.formats", "at least 1"),
        ({"source": "Bad Source"}, "source", "should match pattern"),
        ({"colour": "blue"}, "colour", "Extra inputs are not permitted"),
        ({"rules": [{"reason": "x", "when": {"column": "a"}}]}, "rules.0.when", "exactly one"),
        (
            {"rules": [{"reason": "x", "when": {"column": "a", "equals": "1", "blank": True}}]},
            "rules.0.when",
            "exactly one",
        ),
        ({"free_text": ["notes"], "keep": ["notes"]}, "(top level)", "keep_free_text to keep"),
        ({"keep_free_text": ["notes"]}, "(top level)", "must also be listed in free_text"),
        ({"personal_identifiers": ["ref"]}, "(top level)", "stored in clear"),
        ({"personal_identifiers": ["name"], "keep": ["name"]}, "(top level)", "both in"),
        ({"aliases": {"a": ["x"], "b": ["x"]}}, "(top level)", "alias 'x' is given for both"),
        (
            {
                "rules": [
                    {"reason": "a", "when": {"column": "c", "equals": "1"}, "cancels": True},
                    {"reason": "b", "when": {"column": "c", "equals": "2"}, "cancels": True},
                ]
            },
            "(top level)",
            "at most one rule",
        ),
    ],
)
def test_invalid_mapping_names_file_key_and_problem(
    tmp_path: Path, changes: dict[str, Any], key: str, problem: str
) -> None:
    import yaml

    path = tmp_path / "partner.yaml"
    path.write_text(yaml.safe_dump(variant(**changes)))
    msg = config_error(path)
    assert str(path) in msg
    assert f"key {key!r}" in msg
    assert problem in msg


def test_dict_mapping_errors_say_dict() -> None:
    msg = config_error(variant(category__labels={"Burglary": "nope"}))
    assert "<dict>: key 'category'" in msg


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n")
    assert f"{bad}: not valid YAML" in config_error(bad)
    missing = tmp_path / "missing.yaml"
    assert f"{missing}: cannot read" in config_error(missing)
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    assert "must be a YAML object" in config_error(lst)


def test_numeric_label_keys_become_text() -> None:
    # Unquoted codes such as 10 are read by YAML as numbers.
    m = load_mapping(variant(category__labels={10: "burglary"}))
    assert m.category.labels == {"10": "burglary"}


def test_mapping_is_frozen() -> None:
    m = load_mapping(BASE)
    with pytest.raises(Exception, match="frozen"):
        m.source = "other"  # type: ignore[misc]


def test_shipped_mapping_files_exist() -> None:
    assert {p.stem for p in MAPPINGS_DIR.glob("*.yaml")} >= {"stl-slmpd", "nij-portland"}
