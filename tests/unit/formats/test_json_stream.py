"""The chunked reader against ``json.loads``, with every token cut by every read boundary.

``json.loads`` of the whole body is the oracle: it never sees a chunk boundary, so any value the
reader builds differently from it was broken by one. The bodies have the shapes of the three
results and every kind of token the API can send: nested labels, ``\\u`` escapes and surrogate
pairs, raw multi-byte UTF-8, long strings, negative/exponent/decimal numbers, literals and runs
of whitespace longer than the reader's look-back at a boundary.
"""

import io
import json
from decimal import Decimal

import pytest
from placewise.api.errors import ResultShapeError
from placewise.formats.json_stream import READ_CHUNK, JsonStreamReader
from placewise.formats.results import iter_records, parse_statistics, parse_timeseries

CHUNK_SIZES = (1, 2, 3, 5, 7, 13, 64, 4096, READ_CHUNK)

TRICKY_TEXT = (
    'caf\u00e9 \U0001f600 "quoted" back\\slash /slash \n\t\b\f\r \u0000 \u2028 '
    "\u00e6\u00f8\u00e5 \u65e5\u672c \U0001f3c3\u200d\u2640\ufe0f"
)


def _records_body(long: int) -> dict:
    return {
        "records": [
            {
                "id": 4066131,
                "community_id": -235,
                "name": TRICKY_TEXT,
                "long": "x" * long + "\u00e9" + "y" * 40,
                "sent_at": None,
                "is_test": True,
                "archived": False,
                "tags": [],
                "meta": {},
            },
            {
                "id": 4066135,
                "cost": -12.75,
                "ratio": 2.5e-3,
                "big": 1.5e300,
                "hundred": 1e2,
                "one": 1.0,
                "neg_zero": -0.0,
                "nested": {"label": {"a": [1, {"b": None}, [[]], -7], "c": "\U0001f600"}},
            },
            {"id": 4066136, "escaped \u00e9 key": "\\u0041 is not an escape here", "n": 0},
        ],
        "pagination": {"next_page_info": "CNOW-AE \u00e9"},
        "result_type": "records",
    }


def _timeseries_body() -> dict:
    return {
        "interval": "1d",
        "range_timezone": "local",
        "from": "2026-11-20T00:00:00.000",
        "time_buckets": ["2026-11-20T00:00:00.000", "2026-11-21T00:00:00.000"],
        "series": [
            {
                "timezone": "Europe/Oslo",
                "label": {"loyalty_club_id": 10, "channel": TRICKY_TEXT},
                "values": [-1.5e-3, 2e2],
            },
            {"timezone": "America/Denver", "label": {"loyalty_club_id": 11}, "values": [None, 0]},
            {"label": {"channel": "sms", "nested": {"deep": [True, None]}}, "values": [7, -0.25]},
        ],
        "data_points": 6,
        "result_type": "timeseries",
    }


def _statistics_body() -> dict:
    return {
        "range_timezone": "Europe/Oslo",
        "from": "2026-11-27T00:00:00.000+01:00",
        "to": "2026-11-28T00:00:00.000+01:00",
        "series": [
            {"label": {"event_type": "delivered", "text": TRICKY_TEXT}, "value": 1520},
            {"label": {"event_type": "\u00e9v\u00e9nement"}, "value": -0.25},
            {"label": {"event_type": "hundred"}, "value": 1e2},
            {"label": {"event_type": "none", "n": {"x": []}}, "value": None},
        ],
        "data_points": 4,
        "result_type": "statistics",
    }


def _spellings(body: dict) -> list[bytes]:
    """The same body as raw UTF-8 with a header number spelled with fraction and exponent, as
    compact ASCII (escapes), and with long whitespace runs."""
    utf8 = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if "data_points" in body:
        spelled = b'"data_points":%d0.00E-1' % body["data_points"]
        utf8 = utf8.replace(b'"data_points":%d' % body["data_points"], spelled)
        assert spelled in utf8
    return [
        utf8,
        json.dumps(body).encode(),
        json.dumps(body, ensure_ascii=False, indent=40, separators=(" ,\t\r\n", " :  ")).encode(),
    ]


def _exact(value):
    """``value`` with its types spelled out, so that 1, 1.0 and True never compare equal."""
    if isinstance(value, dict):
        return {key: _exact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_exact(item) for item in value]
    return (type(value).__name__, value)


def _oracle(raw: bytes) -> dict:
    """``json.loads`` with the contract's numbers: integral decimals are int, others Decimal."""

    def number(text: str) -> int | Decimal:
        value = Decimal(text)
        return int(value) if value == value.to_integral_value() else value

    return json.loads(raw, parse_float=number)


class ShortReads(io.RawIOBase):
    """A body served ``first`` bytes on the first read, then at most ``step`` bytes per read,
    however much is asked for: a socket or a decompressor may return any short read."""

    def __init__(self, raw: bytes, first: int, step: int) -> None:
        self._raw = raw
        self._pos = 0
        self._sizes = iter([first])
        self._step = step
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        limit = next(self._sizes, self._step)
        if size is not None and size >= 0:
            limit = min(limit, size)
        data = self._raw[self._pos : self._pos + limit]
        self._pos += len(data)
        return data


def _parse_records(fp, read_chunk: int) -> tuple[list, str | None, list]:
    stream = iter_records(fp, keep_raw=True, read_chunk=read_chunk)
    records, raws = [], []
    for record in stream:
        records.append(record)
        raws.append(stream.raw)
    return records, stream.next_page_info, raws


def _assert_records(raw: bytes, fp, read_chunk: int = READ_CHUNK) -> None:
    expected = _oracle(raw)
    records, cursor, raws = _parse_records(fp, read_chunk)
    assert _exact(records) == _exact(expected["records"])
    assert cursor == expected["pagination"]["next_page_info"]
    text = raw.decode()
    for record, raw_text in zip(records, raws, strict=True):
        if raw_text is not None:
            assert raw_text in text
            assert _exact(json.loads(raw_text)) == _exact(record)
    # the records with a fraction or exponent have no raw text; the others keep theirs
    assert [r is None for r in raws] == [False, True, False]


def _assert_timeseries(raw: bytes, fp, read_chunk: int = READ_CHUNK) -> None:
    expected = _oracle(raw)
    header, series = parse_timeseries(fp, read_chunk=read_chunk)
    got = [(s.label, s.timezone, s.values) for s in series]
    want = [(s["label"], s.get("timezone"), s["values"]) for s in expected["series"]]
    assert _exact(got) == _exact(want)
    assert header.time_buckets == expected["time_buckets"]
    assert (header.interval, header.range_timezone, header.from_) == (
        expected["interval"],
        expected["range_timezone"],
        expected["from"],
    )
    assert (header.data_points, header.result_type, header.complete) == (6, "timeseries", True)


def _assert_statistics(raw: bytes, fp, read_chunk: int = READ_CHUNK) -> None:
    expected = _oracle(raw)
    header, series = parse_statistics(fp, read_chunk=read_chunk)
    got = [(s.label, s.timezone, s.value) for s in series]
    want = [(s["label"], s.get("timezone"), s["value"]) for s in expected["series"]]
    assert _exact(got) == _exact(want)
    assert (header.range_timezone, header.from_, header.to) == (
        expected["range_timezone"],
        expected["from"],
        expected["to"],
    )
    assert (header.data_points, header.result_type, header.complete) == (4, "statistics", True)


SHAPES = {
    "records": (_records_body(5000), _assert_records),
    "timeseries": (_timeseries_body(), _assert_timeseries),
    "statistics": (_statistics_body(), _assert_statistics),
}


def test_the_oracle_sees_the_tricky_tokens():
    """The bodies hold what the boundary tests are meant to cut (guards against a dull body)."""
    utf8, compact, spaced = _spellings(_records_body(5000))
    assert b"\\ud83d\\ude00" in compact and b"\\u00e9" in compact
    assert "\U0001f600".encode() in utf8
    assert b" " * 40 in spaced
    for token in (b"-12.75", b"0.0025", b"1.5e+300", b"100.0", b"-0.0", b"null", b"true", b"false"):
        assert token in compact


@pytest.mark.parametrize("read_chunk", CHUNK_SIZES)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_read_chunk_size_parses_like_json_loads(shape, read_chunk):
    body, check = SHAPES[shape]
    for raw in _spellings(body):
        check(raw, io.BytesIO(raw), read_chunk)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_read_boundary_at_every_byte_parses_like_json_loads(shape):
    """Every token is cut at every position once: the first read ends at byte ``cut``, then the
    body comes in short reads of 7 bytes, which cut the rest at other places."""
    body, check = SHAPES[shape]
    if shape == "records":
        body = _records_body(64)
    for raw in _spellings(body)[:2]:
        for cut in range(1, len(raw)):
            check(raw, ShortReads(raw, first=cut, step=7), 7)


@pytest.mark.parametrize("step", (1, 3, 4096))
def test_short_reads_parse_like_json_loads(step):
    for body, check in SHAPES.values():
        for raw in _spellings(body):
            check(raw, ShortReads(raw, first=step, step=step), READ_CHUNK)


def test_a_body_many_chunks_long_is_streamed_lazily():
    """The first series arrives after a read of one chunk, of a body 40 chunks long."""
    chunk = 4096
    n = 20_000
    raw = (
        b'{"range_timezone":"UTC","series":['
        + b",".join(b'{"label":{"sending_id":%d},"value":%d}' % (i, -i) for i in range(n))
        + b'],"data_points":%d,"result_type":"statistics"}' % n
    )
    assert len(raw) > 40 * chunk
    fp = ShortReads(raw, first=chunk, step=chunk)
    header, series = parse_statistics(fp, read_chunk=chunk)
    first = next(series)
    assert first.label == {"sending_id": 0}
    assert fp.reads == 1
    rest = list(series)
    assert [s.value for s in rest] == [-i for i in range(1, n)]
    assert fp.reads > 40
    assert header.complete and header.data_points == n


def test_small_array_items_are_never_scanned_across_the_end_of_the_buffer():
    """The reader tops the buffer up before an item when little is left, so an item smaller than
    that margin is scanned once: a scan cut by the buffer's end is wasted work, and the
    scanner's error for it costs a pass over the whole buffer."""
    chunk = 4096
    n = 5_000
    raw = b'{"series":[' + b",".join(b'{"label":{"id":%d},"value":%d}' % (i, i) for i in range(n))
    raw += b"]}"
    assert len(raw) > 30 * chunk
    reader = JsonStreamReader(ShortReads(raw, first=chunk, step=chunk), read_chunk=chunk)
    scan, cut = reader._scan, []

    def counting_scan(text: str, position: int):
        try:
            return scan(text, position)
        except (StopIteration, json.JSONDecodeError):
            cut.append(position)
            raise

    reader._scan = counting_scan
    keys = reader.top_level_keys()
    assert next(keys) == "series"
    items = list(reader.iter_array("series"))
    assert [item["value"] for item in items] == list(range(n))
    assert cut == []


def test_the_default_read_chunk_streams_a_body_larger_than_it():
    n = 60_000
    raw = (
        b'{"records":['
        + b",".join(b'{"id":%d,"name":"record %d \\u00e9"}' % (i, i) for i in range(n))
        + b'],"result_type":"records"}'
    )
    assert len(raw) > 4 * READ_CHUNK
    fp = ShortReads(raw, first=READ_CHUNK, step=READ_CHUNK)
    stream = iter_records(fp)
    assert next(stream) == {"id": 0, "name": "record 0 \u00e9"}
    assert fp.reads == 1
    assert sum(1 for _ in stream) == n - 1
    assert fp.reads > 4


def test_a_read_chunk_below_one_byte_is_refused():
    with pytest.raises(ValueError, match="read_chunk must be at least 1 byte, got 0"):
        JsonStreamReader(io.BytesIO(b"{}"), read_chunk=0)


@pytest.mark.parametrize("read_chunk", (1, 2, 7, READ_CHUNK))
@pytest.mark.parametrize("shape", SHAPES)
def test_every_truncation_of_a_body_raises(shape, read_chunk):
    body, _check = SHAPES[shape]
    if shape == "records":
        body = _records_body(64)
    raw = json.dumps(body, separators=(",", ":")).encode()
    parse = {
        "records": lambda fp: list(iter_records(fp, read_chunk=read_chunk)),
        "timeseries": lambda fp: list(parse_timeseries(fp, read_chunk=read_chunk)[1]),
        "statistics": lambda fp: list(parse_statistics(fp, read_chunk=read_chunk)[1]),
    }[shape]
    for length in range(len(raw)):
        with pytest.raises(ResultShapeError, match="ended before the JSON value was complete"):
            parse(io.BytesIO(raw[:length]))


RECORDS_AROUND = (b'{"result_type":"records","records":[{"id":1},', b',{"id":2}]}')


@pytest.mark.parametrize("read_chunk", (1, 3, 7, READ_CHUNK))
@pytest.mark.parametrize(
    ("item", "match"),
    [
        (b"NaN", "NaN is not a JSON value"),
        (b"Infinity", "Infinity is not a JSON value"),
        (b"-Infinity", "-Infinity is not a JSON value"),
        (b'{"v":NaN}', "NaN is not a JSON value"),
        (b'{"v":-Infinity}', "-Infinity is not a JSON value"),
        (b"tru", "not valid JSON"),
        (b'{"v":nul}', "not valid JSON"),
        (b'{"v":1.}', "not valid JSON"),
        (b'{"v":"bad \\x escape"}', "not valid JSON"),
        (b'{"v":"\\u12"}', "not valid JSON"),
        (b'{"v":"raw \x01 control"}', "not valid JSON"),
        (b'{"v":"\xff\xfe"}', "not valid JSON"),
        (b"{'v':1}", "not valid JSON"),
        (b'{"v":1 "w":2}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nests values too deeply"),
    ],
)
def test_bodies_that_are_not_json_raise_at_every_read_chunk(item, match, read_chunk):
    raw = RECORDS_AROUND[0] + item + RECORDS_AROUND[1]
    with pytest.raises(ResultShapeError, match=match):
        list(iter_records(io.BytesIO(raw), read_chunk=read_chunk))


@pytest.mark.parametrize("read_chunk", (1, 3, READ_CHUNK))
@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"", "ended before the JSON value was complete"),
        (b"   \n ", "ended before the JSON value was complete"),
        (b"[1, 2]", "not a JSON object \\(starts with start_array\\)"),
        (b'"records"', "not a JSON object \\(starts with string\\)"),
        (b"-1", "not a JSON object \\(starts with number\\)"),
        (b"null", "not a JSON object \\(starts with null\\)"),
        (b"<html>", "expecting an object at char 0, got '<'"),
        (b'{"records" 1}', "expecting ':'"),
        (b'{"records":[] "x":1}', "expecting ',' or '}'"),
        (b'{"records":[{} {}]}', "expecting ',' or ']'"),
        (b"{records:[]}", "expecting a property name in double quotes"),
    ],
)
def test_malformed_top_level_structure_raises_at_every_read_chunk(raw, match, read_chunk):
    with pytest.raises(ResultShapeError, match=match):
        list(iter_records(io.BytesIO(raw), read_chunk=read_chunk))
