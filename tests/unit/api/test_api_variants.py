"""The variants settings file: defaults, round trip, and errors that name what was wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from placewise.api.variants import (
    VARIANTS,
    ApiVariants,
    VariantsFileError,
    dump_variants,
    load_variants,
)


def test_defaults_are_the_first_value_of_every_variant():
    defaults = ApiVariants().as_mapping()
    assert defaults == {
        "window_end": "bucket_at_to",
        "cross_customer_query": "allowed",
        "same_tz_merge": "per_club",
        "multi_tz_window": "local_wall_clock",
        "statistics_shape": "totals",
        "cursor_key": "page_info",
        "exports": "present",
        "auth": "client_token",
        "date_header": "present",
        "menu_only_reports": "absent",
    }
    assert [v.name for v in VARIANTS] == list(defaults)


def test_missing_file_means_defaults(tmp_path: Path):
    assert load_variants(tmp_path / "absent.yml") == ApiVariants()


def test_round_trip_keeps_every_value_and_reports_differences(tmp_path: Path):
    found = ApiVariants(window_end="exclusive", cursor_key="cursor", exports="absent")
    path = tmp_path / "api-contract.yml"
    dump_variants(found, path, header="written by a test", extra={"probed_at": "2026-12-01"})
    assert path.read_text().startswith("# written by a test\n")
    assert load_variants(path) == found
    assert found.differences() == {
        "window_end": "exclusive",
        "cursor_key": "cursor",
        "exports": "absent",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("variants: {window_end: sometimes}", "window_end='sometimes' is not one of"),
        ("variants: {no_such: x}", "unknown variant(s) no_such"),
        ("variants: [1, 2]", "'variants' must be a mapping"),
        ("variants: {cursor_key: 3}", "cursor_key must be one of page_info"),
        ("- just a list", "expected a mapping"),
        ("variants: {a: [", "cannot read the API settings file"),
    ],
)
def test_bad_files_are_refused_naming_the_file_and_the_problem(
    tmp_path: Path, text: str, message: str
):
    path = tmp_path / "api-contract.yml"
    path.write_text(text)
    with pytest.raises(VariantsFileError) as info:
        load_variants(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
