import pytest
from placewise.config import REPO_ROOT
from placewise.extract.plan import DEFAULT_REPORT_AGGREGATIONS
from placewise.registry import (
    Club,
    RegistryError,
    enabled_clubs,
    load_registry,
    parse_registry,
    render_registry,
)

VALID = """
clubs:
  - {id: 1001, name: Oslo City}
  - {id: 1002, name: " Denver Mall ", timezone: America/Denver}
  - {id: 1003, name: Old Club, enabled: false}
  - {id: 1004, name: Small Club, reports: [sendings_stats, sendings]}
"""


def one(entry: str) -> str:
    return f"clubs:\n  - {entry}\n"


def test_a_valid_registry_is_parsed_with_defaults():
    clubs = parse_registry(VALID, "clubs.yml")
    assert clubs == [
        Club(1001, "Oslo City"),
        Club(1002, "Denver Mall", "America/Denver"),
        Club(1003, "Old Club", enabled=False),
        Club(1004, "Small Club", reports=("sendings_stats", "sendings")),
    ]
    assert clubs[0].reports == tuple(DEFAULT_REPORT_AGGREGATIONS)
    assert clubs[0].timezone is None and clubs[0].enabled


def test_enabled_clubs_leaves_out_disabled_ones():
    assert [c.id for c in enabled_clubs(parse_registry(VALID))] == [1001, 1002, 1004]


def test_the_repository_registry_is_valid():
    clubs = load_registry(REPO_ROOT / "config" / "clubs.yml")
    assert [c.id for c in clubs] == [1001, 1002, 1003]


def test_an_empty_club_list_is_valid():
    assert parse_registry("clubs: []\n") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            one("{id: 1001, name: Oslo, colour: red}"),
            "clubs.yml: clubs[0]: unknown key(s) ['colour']; allowed: "
            "['enabled', 'id', 'name', 'reports', 'timezone']",
        ),
        (one("{id: abc, name: Oslo}"), "clubs[0]: 'id' must be a positive integer, got 'abc'"),
        (one("{id: 0, name: Oslo}"), "clubs[0]: 'id' must be a positive integer, got 0"),
        (one("{id: -5, name: Oslo}"), "clubs[0]: 'id' must be a positive integer, got -5"),
        (one("{id: true, name: Oslo}"), "clubs[0]: 'id' must be a positive integer, got True"),
        (one("{name: Oslo}"), "clubs[0]: 'id' must be a positive integer, got None"),
        (one("{id: 1.5, name: Oslo}"), "clubs[0]: 'id' must be a positive integer, got 1.5"),
        (one("{id: 1001}"), "clubs[0] (id 1001): 'name' must be a non-empty string"),
        (one("{id: 1001, name: '  '}"), "clubs[0] (id 1001): 'name' must be a non-empty string"),
        (
            one("{id: 1001, name: Oslo, timezone: Mars/Olympus}"),
            "clubs[0] (id 1001): unknown timezone 'Mars/Olympus'; use an IANA name such as "
            "Europe/Oslo",
        ),
        (
            one("{id: 1001, name: Oslo, timezone: europe/oslo}"),
            "unknown timezone 'europe/oslo'",
        ),
        (one("{id: 1001, name: Oslo, timezone: ''}"), "unknown timezone ''"),
        (
            one("{id: 1001, name: Oslo, enabled: maybe}"),
            "clubs[0] (id 1001): 'enabled' must be true or false",
        ),
        (
            one("{id: 1001, name: Oslo, reports: [sendings, nope]}"),
            "clubs[0] (id 1001): unknown report(s) ['nope']; known: links_visits_history, "
            "member_balance",
        ),
        (
            one("{id: 1001, name: Oslo, reports: sendings}"),
            "clubs[0] (id 1001): 'reports' must be a non-empty list",
        ),
        (
            one("{id: 1001, name: Oslo, reports: []}"),
            "clubs[0] (id 1001): 'reports' must be a non-empty list",
        ),
        (one("1001"), "clubs.yml: clubs[0]: expected a mapping like {id: 1001, name: ...}"),
        (
            "clubs:\n  - {id: 1001, name: A}\n  - {id: 1001, name: B}\n",
            "club id 1001 is listed twice",
        ),
        ("clubs: {id: 1001}\n", "clubs.yml: expected a top-level 'clubs:' list"),
        ("- {id: 1001, name: Oslo}\n", "clubs.yml: expected a top-level 'clubs:' list"),
        ("", "clubs.yml: expected a top-level 'clubs:' list"),
        ("clubs: [\n", "clubs.yml: not valid YAML"),
    ],
)
def test_every_validation_error_names_the_file_the_entry_and_the_fix(text, message):
    with pytest.raises(RegistryError) as info:
        parse_registry(text, "clubs.yml")
    assert message in str(info.value)


def test_the_second_bad_entry_is_named_by_its_index():
    text = "clubs:\n  - {id: 1001, name: A}\n  - {id: 1002, name: B, zone: X}\n"
    with pytest.raises(RegistryError, match=r"clubs\[1\]: unknown key"):
        parse_registry(text, "clubs.yml")


def test_a_missing_file_names_the_setting_to_fix(tmp_path):
    path = tmp_path / "absent.yml"
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    assert str(info.value) == (
        f"club registry {path} not found; create it or set PLACEWISE_CLUBS_FILE"
    )


def test_load_registry_errors_name_the_file(tmp_path):
    path = tmp_path / "clubs.yml"
    path.write_text(one("{id: 1001, name: Oslo, colour: red}"))
    with pytest.raises(RegistryError, match=f"^{path}: clubs\\[0\\]: unknown key"):
        load_registry(path)


def test_render_registry_round_trips():
    clubs = parse_registry(VALID)
    text = render_registry(clubs)
    assert parse_registry(text) == clubs
    assert "reports" not in text.split("Small Club")[0]  # defaults are left out
    assert "enabled: false" in text


def test_render_registry_of_no_clubs_round_trips():
    assert parse_registry(render_registry([])) == []


def test_a_club_added_to_the_file_shows_up_on_the_next_load(tmp_path):
    path = tmp_path / "clubs.yml"
    path.write_text(one("{id: 1001, name: Oslo City}"))
    assert [c.id for c in load_registry(path)] == [1001]
    path.write_text(path.read_text() + "  - {id: 1005, name: Bergen Storsenter}\n")
    clubs = load_registry(path)
    assert [c.id for c in clubs] == [1001, 1005]
    assert clubs[1].name == "Bergen Storsenter"


# -- what the registry refuses with a clear error instead of a traceback or a silent pick ---------


def test_a_key_given_twice_in_an_entry_is_refused_naming_the_key_and_the_line():
    text = "clubs:\n  - id: 1001\n    name: Oslo\n    id: 1002\n"
    with pytest.raises(RegistryError, match=r"clubs\.yml: key 'id' is given twice .*line 4"):
        parse_registry(text, "clubs.yml")


def test_a_top_level_key_given_twice_is_refused():
    text = "clubs:\n  - {id: 1001, name: Oslo}\nclubs:\n  - {id: 1002, name: Denver}\n"
    with pytest.raises(RegistryError, match="key 'clubs' is given twice"):
        parse_registry(text, "clubs.yml")


@pytest.mark.parametrize("reports", ["[[1]]", "[{a: 1}]", "[1]", "[null]"])
def test_a_report_that_is_no_name_is_refused_naming_the_entry(reports):
    with pytest.raises(RegistryError, match=r"clubs\.yml: clubs\[0\] \(id 1001\): 'reports'"):
        parse_registry(one(f"{{id: 1001, name: Oslo, reports: {reports}}}"), "clubs.yml")


def test_a_registry_that_is_not_utf8_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "clubs.yml"
    path.write_bytes("clubs:\n  - {id: 1001, name: Tromsø}\n".encode("latin-1"))
    with pytest.raises(RegistryError, match=rf"{path}: not UTF-8 text .*byte 0x.. at"):
        load_registry(path)


def test_a_club_id_beyond_bigint_is_refused():
    with pytest.raises(RegistryError, match=r"clubs\[0\]: 'id' .* at most 9223372036854775807"):
        parse_registry(one(f"{{id: {2**63}, name: Huge}}"), "clubs.yml")


def test_the_largest_bigint_club_id_is_accepted():
    [club] = parse_registry(one(f"{{id: {2**63 - 1}, name: Edge}}"))
    assert club.id == 2**63 - 1
