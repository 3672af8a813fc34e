"""The API settings file as the doctor writes it, and ``placewise doctor --check``.

The file is the one ``placewise.api.variants.load_variants`` reads: a ``variants`` mapping (every
open reading and the value this API has) and a ``doctor`` section saying when and against which
API it was found, what was spent, and which variants the last run could not tell (those keep the
value the file had before). ``check_settings_file`` reads a file strictly, without any API call:
an unknown top-level key, variant or value is an error naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from placewise.api.variants import (
    VARIANTS_BY_NAME,
    ApiVariants,
    VariantsFileError,
    dump_variants,
    load_variants,
)
from placewise.doctor.run import DoctorResult

TOP_LEVEL_KEYS = ("variants", "doctor")
DOCTOR_KEYS = ("checked_at", "api_url", "tokens_spent", "max_tokens", "unknown")
HEADER = (
    "Which reading of the Reporting API docs this API has, as `placewise doctor` found it.\n"
    "The client reads this file (PLACEWISE_API_CONTRACT_FILE); run the doctor again to refresh\n"
    "it, `placewise doctor --check` to validate an edited copy. docs/api-contract.md explains\n"
    "each variant."
)


def write_settings(path: Path, result: DoctorResult, api_url: str) -> None:
    """Write what ``result`` found to ``path`` (atomically, via ``dump_variants``)."""
    dump_variants(
        result.variants,
        path,
        header=HEADER,
        extra={
            "doctor": {
                "checked_at": result.checked_at.isoformat(timespec="seconds"),
                "api_url": api_url,
                "tokens_spent": result.tokens_spent,
                "max_tokens": result.max_tokens,
                "unknown": list(result.unknown),
            }
        },
    )


def read_previous(path: Path) -> ApiVariants:
    """The variants a settings file already holds (the defaults when there is none)."""
    return load_variants(path)


def check_settings_file(path: Path) -> ApiVariants:
    """Validate a settings file without any API call; ``VariantsFileError`` names what is wrong."""
    if not path.exists():
        raise VariantsFileError(
            f"{path}: no API settings file here; run `placewise doctor` to write one, or set "
            "PLACEWISE_API_CONTRACT_FILE to its path"
        )
    variants = load_variants(path)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = [k for k in document if k not in TOP_LEVEL_KEYS]
    if unknown:
        raise VariantsFileError(
            f"{path}: unknown key(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(TOP_LEVEL_KEYS)}"
        )
    missing = [name for name in VARIANTS_BY_NAME if name not in (document.get("variants") or {})]
    if missing:
        raise VariantsFileError(
            f"{path}: variants lacks {', '.join(missing)}; the doctor writes every variant "
            "(run `placewise doctor` again)"
        )
    _check_doctor_section(path, document.get("doctor"))
    return variants


def _check_doctor_section(path: Path, section: Any) -> None:
    if section is None:
        return
    if not isinstance(section, Mapping):
        raise VariantsFileError(f"{path}: doctor must be a mapping of {', '.join(DOCTOR_KEYS)}")
    unknown = [k for k in section if k not in DOCTOR_KEYS]
    if unknown:
        raise VariantsFileError(
            f"{path}: doctor.{unknown[0]} is not a known key; allowed: {', '.join(DOCTOR_KEYS)}"
        )
    for key in ("tokens_spent", "max_tokens"):
        value = section.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise VariantsFileError(f"{path}: doctor.{key} must be an integer, got {value!r}")
    listed = section.get("unknown") or []
    if not isinstance(listed, list):
        raise VariantsFileError(f"{path}: doctor.unknown must be a list of variant names")
    strange = [name for name in listed if name not in VARIANTS_BY_NAME]
    if strange:
        raise VariantsFileError(
            f"{path}: doctor.unknown names {', '.join(map(str, strange))}, not a variant; "
            f"known: {', '.join(VARIANTS_BY_NAME)}"
        )
