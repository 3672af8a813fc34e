"""The corruption modes of the chaos suite: what each does to one answer and what must follow.

A mode names the kind of slice it corrupts (``statistics`` of one club, ``tenants`` statistics
across clubs, ``timeseries``, ``records``, optionally one report or aggregation), a function
turning the clean answer into the corrupted one, and what the pipeline must do with it:

* ``quarantine(pattern)``: the slice is quarantined and the quarantine reason matches
  ``pattern`` (case-insensitive), i.e. it names the problem;
* ``accepted(why)``: the answer is valid, or its defect is dropped by design; the slice loads and
  its rows equal the clean run's.

The ACCEPTED list is short and documented in tests/chaos/README.md and the README's
Reliability section.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chaos_proxy import Answer

#: A club the chaos runs never ask for (the simulator has it, so the value is plausible).
FOREIGN_CLUB = 1003
_SURROGATE = "@@LONE-SURROGATE@@"
_BAD_UTF8 = "@@INVALID-UTF8@@"


@dataclass(frozen=True)
class Expect:
    """What the pipeline must do with a corrupted answer."""

    outcome: str  # "quarantine" or "accepted"
    pattern: str = ""
    why: str = ""

    def matches(self, reason: str) -> bool:
        return re.search(self.pattern, reason, re.IGNORECASE) is not None


def quarantine(pattern: str) -> Expect:
    return Expect("quarantine", pattern=pattern)


def accepted(why: str) -> Expect:
    return Expect("accepted", why=why)


@dataclass(frozen=True)
class Mode:
    """One way to corrupt one answer."""

    name: str
    kind: str  # statistics | tenants | timeseries | records
    corrupt: Callable[[Answer, dict[str, Any]], Answer]
    expect: Expect
    report: str | None = None
    aggregation: str | None = None
    #: A transport-level defect: the client retries and the retry gets the clean answer.
    retried: bool = False

    @property
    def constraint(self) -> int:
        """How narrow the mode's choice of slice is (narrow modes are placed first)."""
        return (self.report is not None) + (self.aggregation is not None)


# -- building blocks ----------------------------------------------------------------------------


def _dumps(doc: Any) -> bytes:
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    data = text.encode("utf-8")
    return data.replace(_SURROGATE.encode(), b"\\ud800").replace(_BAD_UTF8.encode(), b"\xff")


def _with_body(answer: Answer, body: bytes, **headers: str) -> Answer:
    names = {k.lower() for k in headers}
    kept = [(k, v) for k, v in answer.headers if k.lower() not in names]
    return Answer(answer.status, kept + list(headers.items()), body)


def on_doc(change: Callable[[dict[str, Any], dict[str, Any]], None]) -> Callable[..., Answer]:
    """A corruption that edits the parsed body (``change(doc, request)``) and re-encodes it."""

    def corrupt(answer: Answer, request: dict[str, Any]) -> Answer:
        doc = json.loads(answer.body)
        change(doc, request)
        return _with_body(answer, _dumps(doc))

    return corrupt


def on_bytes(change: Callable[[bytes], bytes], **headers: str) -> Callable[..., Answer]:
    """A corruption that rewrites the body's bytes (and optionally some headers)."""

    def corrupt(answer: Answer, request: dict[str, Any]) -> Answer:
        return _with_body(answer, change(answer.body), **headers)

    return corrupt


def _cut_inside(pattern: bytes, offset: int) -> Callable[[bytes], bytes]:
    """Truncate the body ``offset`` bytes into the first match of ``pattern``."""

    def cut(body: bytes) -> bytes:
        found = re.search(pattern, body)
        assert found is not None, f"{pattern!r} not in the clean body"
        return body[: found.start() + offset]

    return cut


def _first_value_index(series: dict[str, Any]) -> int:
    return next(i for i, v in enumerate(series["values"]) if v is not None)


def _set_ts_value(value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(doc: dict[str, Any], request: dict[str, Any]) -> None:
        series = doc["series"][0]
        series["values"][_first_value_index(series)] = value

    return change


def _set_stat(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(doc: dict[str, Any], request: dict[str, Any]) -> None:
        doc["series"][0][key] = value

    return change


def _set_label(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(doc: dict[str, Any], request: dict[str, Any]) -> None:
        doc["series"][0]["label"][key] = value

    return change


def _set_record(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(doc: dict[str, Any], request: dict[str, Any]) -> None:
        doc["records"][0][key] = value

    return change


def _record_count_key(record: dict[str, Any]) -> str:
    return next(k for k, v in record.items() if k.endswith("_count") and isinstance(v, int))


def _shift(bucket: str, delta: timedelta) -> str:
    moment = datetime.fromisoformat(bucket.replace("Z", "+00:00")) + delta
    return moment.isoformat(timespec="milliseconds")


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"level": value}
    return value


# -- statistics of one club ---------------------------------------------------------------------


def _repeat_series(doc: dict[str, Any], request: dict[str, Any]) -> None:
    doc["series"].append(copy.deepcopy(doc["series"][0]))


def _drop(*keys: str) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(doc: dict[str, Any], request: dict[str, Any]) -> None:
        for key in keys:
            del doc[key]

    return change


def _set_top(key: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def change(doc: dict[str, Any], request: dict[str, Any]) -> None:
        doc[key] = value

    return change


def _extra_keys(doc: dict[str, Any], request: dict[str, Any]) -> None:
    doc["api_version"] = "2026-11"
    doc["warnings"] = []
    for series in doc["series"]:
        series["unit"] = "events"


def _reordered(doc: dict[str, Any], request: dict[str, Any]) -> None:
    series = [dict(reversed(list(s.items()))) for s in doc["series"]]
    rest = [(k, v) for k, v in doc.items() if k not in ("series", "time_buckets")]
    ordered: dict[str, Any] = dict(reversed(rest))
    if "time_buckets" in doc:  # the contract keeps time_buckets before series
        ordered["time_buckets"] = doc["time_buckets"]
    ordered["series"] = series
    doc.clear()
    doc.update(ordered)


def _other_day_echo(doc: dict[str, Any], request: dict[str, Any]) -> None:
    doc["from"] = _shift(doc["from"], timedelta(days=-1))
    doc["to"] = _shift(doc["to"], timedelta(days=-1))


_HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1></body></html>"
)

TRUNCATED = (
    r"truncat|unexpected end|incomplete|unterminated|ended before|ended early"
    r"|end of (the )?(body|input|data|stream|file)|eof"
)
NOT_JSON = r"json|html|content.type|not an? (json )?object|expected|unexpected|invalid"
DUPLICATE = r"duplicat|repeat|twice|more than once|same (label|bucket|key|id|series)"
FOREIGN = r"club.*(not|belong|request|asked)|foreign|unrequested"
NUL = r"nul\b|null (byte|char)|\\u0000|\\x00|0x00|\\0"
OUT_OF_RANGE = r"range|too (large|big)|huge|overflow|bigint|exceeds|magnitude|integral"
NEGATIVE = r"negative"
NOT_FINITE = r"nan|infinity|finite|not a number"
NOT_A_NUMBER = r"not a number|non-numeric|numeric|number|integer"

STATISTICS_MODES = [
    Mode(
        "truncated_mid_string",
        "statistics",
        on_bytes(_cut_inside(rb'"event_type":"[a-z_]{4,}"', 16)),
        quarantine(TRUNCATED),
    ),
    Mode(
        "truncated_mid_number",
        "statistics",
        on_bytes(_cut_inside(rb'"value":\d{2,}', 9)),
        quarantine(TRUNCATED),
    ),
    Mode("value_as_string", "statistics", on_doc(_set_stat("value", "44")), quarantine(r"value")),
    Mode("value_as_boolean", "statistics", on_doc(_set_stat("value", True)), quarantine(r"value")),
    Mode(
        "label_as_list",
        "statistics",
        on_doc(_set_stat("label", ["event_type", "new"])),
        quarantine(r"label"),
    ),
    Mode("statistics_series_repeated", "statistics", on_doc(_repeat_series), quarantine(DUPLICATE)),
    Mode(
        "foreign_club_series",
        "statistics",
        on_doc(_set_label("loyalty_club_id", FOREIGN_CLUB)),
        quarantine(FOREIGN),
    ),
    Mode(
        "nul_in_label",
        "statistics",
        on_doc(_set_label("event_type", "deli\x00vered")),
        quarantine(NUL),
    ),
    Mode("value_1e30", "statistics", on_doc(_set_stat("value", 1e30)), quarantine(OUT_OF_RANGE)),
    Mode(
        "campaign_id_1e25_in_label",
        "statistics",
        on_doc(_set_label("campaign_id", 1e25)),
        quarantine(r"campaign_id|" + OUT_OF_RANGE),
        aggregation="campaign_id",
    ),
    Mode("negative_value", "statistics", on_doc(_set_stat("value", -7)), quarantine(NEGATIVE)),
    Mode(
        "nan_literal",
        "statistics",
        on_bytes(lambda b: re.sub(rb'"value":\d+', b'"value":NaN', b, count=1)),
        quarantine(NOT_FINITE),
    ),
    Mode(
        "html_error_page_with_200",
        "statistics",
        on_bytes(lambda b: _HTML, **{"Content-Type": "text/html; charset=utf-8"}),
        quarantine(NOT_JSON),
    ),
    Mode(
        "empty_body",
        "statistics",
        on_bytes(lambda b: b""),
        quarantine(r"empty|0 bytes|no (json|body|content)"),
    ),
    Mode(
        "gzip_garbage",
        "statistics",
        on_bytes(lambda b: b"\x1f\x8b\x08\x00garbage, not deflate", **{"Content-Encoding": "gzip"}),
        accepted(
            "a body that cannot be decoded is a transport failure: nothing is landed, the client "
            "retries and the retry's clean answer loads"
        ),
        retried=True,
    ),
    Mode("no_series", "statistics", on_doc(_drop("series")), quarantine(r"series")),
    Mode(
        "no_from_to_echo",
        "statistics",
        on_doc(_drop("from", "to")),
        accepted(
            "a statistics answer without any from/to echo covers the request's window; an echo "
            "that is present must match it (window_echo_of_another_day)"
        ),
    ),
    Mode(
        "only_from_echoed",
        "statistics",
        on_doc(_drop("to")),
        quarantine(r"\bto\b|echo|window"),
    ),
    Mode(
        "window_echo_of_another_day",
        "statistics",
        on_doc(_other_day_echo),
        quarantine(r"window|covers|requested"),
    ),
    Mode(
        "wrong_result_type",
        "statistics",
        on_doc(_set_top("result_type", "timeseries")),
        quarantine(r"result_type"),
    ),
    Mode(
        "unknown_timezone",
        "statistics",
        on_doc(_set_top("range_timezone", "Mars/Olympus_Mons")),
        quarantine(r"timezone"),
    ),
    Mode(
        "bad_timestamp_in_from",
        "statistics",
        on_doc(_set_top("from", "2026-11-24T25:61:00.000+01:00")),
        quarantine(r"timestamp|\bfrom\b|time"),
    ),
    Mode(
        "trailing_garbage",
        "statistics",
        on_bytes(lambda b: b + b'{"series":[]}garbage'),
        quarantine(r"trailing|after|extra|garbage|end of|more than one"),
    ),
    Mode(
        "byte_order_mark",
        "statistics",
        on_bytes(lambda b: b"\xef\xbb\xbf" + b),
        quarantine(r"bom|byte.order|ufeff|xef|" + NOT_JSON),
    ),
    Mode(
        "deeply_nested_label",
        "statistics",
        on_doc(_set_label("event_type", _nested(64))),
        quarantine(r"nest|depth|scalar|label|event_type"),
    ),
    Mode(
        "lone_surrogate_in_label",
        "statistics",
        on_doc(_set_label("event_type", _SURROGATE)),
        quarantine(r"surrogate|unicode|utf|encod"),
    ),
    Mode(
        "invalid_utf8_in_label",
        "statistics",
        on_doc(_set_label("event_type", "x" + _BAD_UTF8)),
        quarantine(r"utf|decod|unicode|encod"),
    ),
    Mode(
        "extra_unknown_keys",
        "statistics",
        on_doc(_extra_keys),
        accepted("unknown keys are ignored: the contract may grow"),
    ),
    Mode(
        "reordered_keys",
        "statistics",
        on_doc(_reordered),
        accepted("JSON objects are unordered; only time_buckets must precede series"),
    ),
]

# -- statistics across clubs (tenants export) ----------------------------------------------------


def _tenants_foreign(doc: dict[str, Any], request: dict[str, Any]) -> None:
    series = copy.deepcopy(doc["series"][0])
    series["label"]["loyalty_club_id"] = FOREIGN_CLUB
    series["timezone"] = "Asia/Tokyo"
    doc["series"].append(series)


TENANTS_MODES = [
    Mode(
        "cross_club_series_repeated",
        "tenants",
        on_doc(_repeat_series),
        quarantine(DUPLICATE),
        aggregation="none",
    ),
    Mode(
        "foreign_club_in_tenants",
        "tenants",
        on_doc(_tenants_foreign),
        quarantine(FOREIGN),
        aggregation="none",
    ),
    Mode(
        "unknown_series_timezone",
        "tenants",
        on_doc(_set_stat("timezone", "Europe/Atlantis")),
        quarantine(r"timezone"),
        aggregation="none",
    ),
    Mode(
        "series_timezone_missing",
        "tenants",
        on_doc(_set_stat("timezone", None)),
        quarantine(r"timezone"),
        aggregation="none",
    ),
    Mode(
        "cross_club_series_without_club",
        "tenants",
        on_doc(lambda d, r: d["series"][0]["label"].pop("loyalty_club_id")),
        quarantine(r"loyalty_club_id|club"),
        aggregation="none",
    ),
]

# -- timeseries ---------------------------------------------------------------------------------


def _repeat_bucket(doc: dict[str, Any], request: dict[str, Any]) -> None:
    doc["time_buckets"].insert(1, doc["time_buckets"][0])
    for series in doc["series"]:
        series["values"].insert(1, series["values"][0])


def _bucket(index: int, change: Callable[[str], str]) -> Callable[..., None]:
    def edit(doc: dict[str, Any], request: dict[str, Any]) -> None:
        doc["time_buckets"][index] = change(doc["time_buckets"][index])

    return edit


def _bucket_at_to(doc: dict[str, Any], request: dict[str, Any]) -> None:
    doc["time_buckets"].append(_shift(doc["time_buckets"][-1], timedelta(days=1)))
    for series in doc["series"]:
        series["values"].append(12345)


def _values_len(delta: int) -> Callable[..., None]:
    def edit(doc: dict[str, Any], request: dict[str, Any]) -> None:
        values = doc["series"][0]["values"]
        if delta < 0:
            values.pop()
        else:
            values.append(1)

    return edit


def _truncate_after_first_series(body: bytes) -> bytes:
    doc = json.loads(body)
    first = _dumps(doc["series"][0])
    at = body.index(first) + len(first)
    return body[:at]


TIMESERIES_MODES = [
    Mode(
        "truncated_after_a_series",
        "timeseries",
        on_bytes(_truncate_after_first_series),
        quarantine(TRUNCATED),
    ),
    Mode(
        "series_as_object",
        "timeseries",
        on_doc(lambda d, r: d.update(series={"0": d["series"][0]})),
        quarantine(r"series"),
    ),
    Mode(
        "label_as_string",
        "timeseries",
        on_doc(_set_stat("label", "event_type=new")),
        quarantine(r"label"),
    ),
    Mode(
        "timeseries_value_as_string",
        "timeseries",
        on_doc(_set_ts_value("17")),
        quarantine(NOT_A_NUMBER),
    ),
    Mode("timeseries_series_repeated", "timeseries", on_doc(_repeat_series), quarantine(DUPLICATE)),
    Mode("bucket_repeated", "timeseries", on_doc(_repeat_bucket), quarantine(DUPLICATE)),
    Mode(
        "foreign_club_timeseries",
        "timeseries",
        on_doc(_set_label("loyalty_club_id", FOREIGN_CLUB)),
        quarantine(FOREIGN),
    ),
    Mode(
        "timeseries_value_2pow63",
        "timeseries",
        on_doc(_set_ts_value(2**63)),
        quarantine(OUT_OF_RANGE),
    ),
    Mode(
        "timeseries_negative_value", "timeseries", on_doc(_set_ts_value(-3)), quarantine(NEGATIVE)
    ),
    Mode(
        "infinity_literal",
        "timeseries",
        on_bytes(lambda b: re.sub(rb'"values":\[(\d+)', b'"values":[Infinity', b, count=1)),
        quarantine(NOT_FINITE),
    ),
    Mode(
        "no_time_buckets", "timeseries", on_doc(_drop("time_buckets")), quarantine(r"time_buckets")
    ),
    Mode("no_result_type", "timeseries", on_doc(_drop("result_type")), quarantine(r"result_type")),
    Mode(
        "bucket_off_the_interval_grid",
        "timeseries",
        on_doc(_bucket(1, lambda b: _shift(b, timedelta(hours=3)))),
        quarantine(r"grid|interval|align|boundar|bucket"),
    ),
    Mode(
        "bucket_outside_the_window",
        "timeseries",
        on_doc(_bucket(0, lambda b: _shift(b, timedelta(days=-1)))),
        quarantine(r"outside|window"),
    ),
    Mode(
        "bad_bucket_timestamp",
        "timeseries",
        on_doc(_bucket(1, lambda b: "2026-11-25T25:61:00.000+01:00")),
        quarantine(r"timestamp|time"),
    ),
    Mode(
        "wrong_interval", "timeseries", on_doc(_set_top("interval", "1h")), quarantine(r"interval")
    ),
    Mode(
        "values_shorter_than_buckets",
        "timeseries",
        on_doc(_values_len(-1)),
        quarantine(r"values|buckets"),
    ),
    Mode(
        "values_longer_than_buckets",
        "timeseries",
        on_doc(_values_len(+1)),
        quarantine(r"values|buckets"),
    ),
    Mode(
        "bucket_at_to",
        "timeseries",
        on_doc(_bucket_at_to),
        accepted("the bucket starting at `to` lies outside [from, to): it is dropped by design"),
    ),
    Mode(
        "extra_unknown_keys_timeseries",
        "timeseries",
        on_doc(_extra_keys),
        accepted("unknown keys are ignored: the contract may grow"),
    ),
]

# -- records ------------------------------------------------------------------------------------


def _repeat_record_other_count(doc: dict[str, Any], request: dict[str, Any]) -> None:
    record = copy.deepcopy(doc["records"][0])
    key = _record_count_key(record)
    record[key] += 1
    doc["records"].append(record)


def _record_count(value: Any) -> Callable[..., None]:
    def edit(doc: dict[str, Any], request: dict[str, Any]) -> None:
        record = doc["records"][0]
        record[_record_count_key(record)] = value

    return edit


def _record_club(doc: dict[str, Any], request: dict[str, Any]) -> None:
    record = doc["records"][0]
    key = "community_id" if "community_id" in record else "loyalty_club_id"
    record[key] = FOREIGN_CLUB


def _record_text_field(doc: dict[str, Any], request: dict[str, Any]) -> None:
    record = doc["records"][0]
    key = next(k for k, v in record.items() if isinstance(v, str) and not k.endswith("_at"))
    record[key] = record[key][:1] + "\x00" + record[key][1:]


RECORDS_MODES = [
    Mode(
        "truncated_mid_record",
        "records",
        on_bytes(_cut_inside(rb'\},\{"', 1)),
        quarantine(TRUNCATED),
    ),
    Mode(
        "record_count_as_string",
        "records",
        on_doc(_record_count("457")),
        quarantine(r"_count|" + NOT_A_NUMBER),
    ),
    Mode(
        "record_repeated_with_other_count",
        "records",
        on_doc(_repeat_record_other_count),
        quarantine(DUPLICATE),
    ),
    Mode("foreign_club_record", "records", on_doc(_record_club), quarantine(FOREIGN)),
    Mode("nul_in_record_field", "records", on_doc(_record_text_field), quarantine(NUL)),
    Mode("negative_record_count", "records", on_doc(_record_count(-1)), quarantine(NEGATIVE)),
    Mode(
        "record_as_list",
        "records",
        on_doc(lambda d, r: d["records"].insert(0, [1, 2])),
        quarantine(r"record"),
    ),
    Mode(
        "extra_unknown_top_level_keys_records",
        "records",
        on_doc(lambda d, r: d.update(api_version="2026-11", warnings=[])),
        accepted("unknown keys are ignored: the contract may grow"),
    ),
    Mode(
        "campaign_id_1e25_in_record",
        "records",
        on_doc(_set_record("campaign_id", 1e25)),
        quarantine(r"campaign_id|" + OUT_OF_RANGE),
        report="sendings",
    ),
    Mode(
        "record_without_id",
        "records",
        on_doc(lambda d, r: d["records"][0].pop("id")),
        quarantine(r"\bid\b|key"),
        report="sendings",
    ),
    Mode(
        "id_abc",
        "records",
        on_doc(_set_record("id", "abc")),
        quarantine(r"\bid\b|integer|abc"),
        report="sendings",
    ),
    Mode(
        "created_at_yesterday_ish",
        "records",
        on_doc(_set_record("created_at", "yesterday-ish")),
        quarantine(r"created_at|timestamp"),
        report="sendings",
    ),
]

#: Modes the pipeline does not yet handle as expected, with what it does instead. Their tests are
#: strict xfails: a fix makes the test pass, which fails the suite until the entry is removed.
OPEN_MODES: dict[str, str] = {}

ALL_MODES: list[Mode] = STATISTICS_MODES + TENANTS_MODES + TIMESERIES_MODES + RECORDS_MODES
MODES = {m.name: m for m in ALL_MODES}
assert len(MODES) == len(ALL_MODES), "mode names must be unique"
assert set(OPEN_MODES) <= set(MODES), "open modes must be modes"
