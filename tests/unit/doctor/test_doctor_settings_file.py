"""``placewise doctor --check``: a settings file is read strictly, without any API call."""

from datetime import UTC, datetime

import pytest
import yaml
from placewise.api.variants import ApiVariants, VariantsFileError, load_variants
from placewise.cli import main
from placewise.doctor import DoctorResult, check_settings_file, write_settings


def written(tmp_path, variants=None, unknown=()):
    path = tmp_path / "api-contract.yml"
    result = DoctorResult(
        findings=[],
        variants=variants or ApiVariants(),
        unknown=list(unknown),
        blockers=[],
        tokens_spent=42,
        max_tokens=100,
        checked_at=datetime(2026, 11, 28, 6, 0, tzinfo=UTC),
    )
    write_settings(path, result, "https://api.example.invalid")
    return path


def edit(path, change):
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_file_the_doctor_wrote_checks_and_loads_as_written(tmp_path):
    variants = ApiVariants().with_values(cursor_key="cursor", exports="absent")
    path = written(tmp_path, variants, unknown=["same_tz_merge"])
    assert check_settings_file(path) == variants == load_variants(path)
    document = yaml.safe_load(path.read_text())
    assert document["doctor"] == {
        "checked_at": "2026-11-28T06:00:00+00:00",
        "api_url": "https://api.example.invalid",
        "tokens_spent": 42,
        "max_tokens": 100,
        "unknown": ["same_tz_merge"],
    }
    assert path.read_text().startswith("# Which reading of the Reporting API docs")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["variants"].update(cursor_key="offset"), "cursor_key='offset' is not one of"),
        (lambda d: d["variants"].update(colour="red"), "unknown variant(s) colour"),
        (lambda d: d["variants"].pop("auth"), "variants lacks auth"),
        (lambda d: d.update(extra={"a": 1}), "unknown key(s) extra; allowed: variants, doctor"),
        (lambda d: d["doctor"].update(when="now"), "doctor.when is not a known key"),
        (lambda d: d["doctor"].update(tokens_spent="many"), "doctor.tokens_spent must be an"),
        (lambda d: d["doctor"].update(unknown=["colour"]), "doctor.unknown names colour"),
        (lambda d: d.update(variants=["auth"]), "'variants' must be a mapping"),
    ],
)
def test_a_bad_file_is_an_error_naming_the_file_and_the_key(tmp_path, change, message):
    path = edit(written(tmp_path), change)
    with pytest.raises(VariantsFileError) as info:
        check_settings_file(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_a_missing_file_is_an_error_saying_how_to_write_one(tmp_path):
    with pytest.raises(VariantsFileError, match="run `placewise doctor` to write one"):
        check_settings_file(tmp_path / "absent.yml")


def test_the_cli_check_exits_0_for_a_good_file_and_1_naming_file_and_key(
    tmp_path, monkeypatch, capsys
):
    path = written(tmp_path, ApiVariants().with_values(auth="user_token"))
    monkeypatch.setenv("PLACEWISE_API_CONTRACT_FILE", str(path))
    monkeypatch.delenv("PLACEWISE_API_URL", raising=False)  # no API call is made
    assert main(["doctor", "--check"]) == 0
    assert "readings that differ from the assumed ones: auth=user_token" in capsys.readouterr().out
    edit(path, lambda d: d["variants"].update(window_end="inclusive"))
    assert main(["doctor", "--check"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"placewise doctor --check: error: {path}:")
    assert "window_end='inclusive'" in line
