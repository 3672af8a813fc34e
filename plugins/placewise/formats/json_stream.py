"""A JSON body read in bounded chunks, one item at a time, in constant memory.

The Reporting API answers with one JSON object whose arrays (records, series) can be of any size.
``JsonStreamReader`` walks the top-level object and those arrays itself and decodes every item
inside them (one record, one series, one header value) whole with the C scanner of the standard
``json`` module: memory stays bounded by the read chunk plus the largest single item, and each
item costs one C call instead of a Python step per token (that is what keeps a load near the speed
of a bare COPY; see bench/load_bench.py). ijson with its C backend was measured against it on
bodies of the benchmark's size: not clearly faster for the bare items, and it gives neither the
contract's numbers (integral decimals as ``int``) nor an item's own text, which the loader copies
as it is.

The scanner is CPython's ``json.scanner.c_make_scanner``, the function behind ``json.loads``.
An item the scanner cannot finish is read on with the next chunk when the failure may only mean
that the chunk boundary cut it. That decision uses two traits of the scanner: a token cut by the
end of the buffer is reported within a few characters of that end, and a cut string is reported
as "Unterminated string" at its opening quote. A number it did finish is taken only when
something that cannot belong to it follows. tests/unit/formats/test_json_stream.py cuts every
token of real-shaped bodies at every boundary and compares with ``json.loads``; if a future
Python changed one of those traits, those tests fail, and a body fails with ``ResultShapeError``
rather than parse to other values.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from json import scanner as _json_scanner
from typing import IO, Any

from placewise.api.errors import ResultShapeError


class _NotJsonError(ValueError):
    """A token the ``json`` module accepts but JSON does not (``NaN``, ``Infinity``)."""


def _reject_constant(name: str) -> Any:
    raise _NotJsonError(f"{name} is not a JSON value")


#: Bytes read from a body at a time (more only while one item is larger than that).
READ_CHUNK = 1 << 18
#: Characters an array item may span before it risks being cut by the buffer's end (a records
#: item is about 1 kB, a series item about 120 bytes); at most a quarter of the read chunk.
PREFILL_CHARS = 1 << 14
#: Why a body that stops in the middle of its JSON value is refused.
_ENDED_EARLY = "the body ended before the JSON value was complete"
_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: The start of a number or of true / false / null that a cut body may end with.
_TOKEN_PREFIX = re.compile(
    r"-?(\d+(\.\d*)?([eE][+-]?\d*)?)?"  # a number, or the start of one
    r"|\.\d*([eE][+-]?\d*)?|[eE][+-]?\d*"  # the rest of a number cut after its digits
    r"|\\?u[0-9a-fA-F]{0,4}"  # a \u escape at the cut (the scanner wants one more character)
    r"|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?"
)
_WHITESPACE_CHARS = " \t\n\r"
#: What may follow the digits the scanner took as a number when the number goes on in the next
#: chunk (``1.`` + ``5``, ``2e`` + ``-3``): a number is complete once anything else follows it.
_NUMBER_TAIL = re.compile(r"[-+.eE0-9]*")
#: Errors are reported this close to the end of the buffer when a token is only cut by it.
_CUT_TOKEN_REACH = 32
#: What a body that is not an object starts with, named as the event of a JSON parser.
_START_EVENTS = {
    "[": "start_array",
    '"': "string",
    "t": "boolean",
    "f": "boolean",
    "n": "null",
    **dict.fromkeys("-0123456789", "number"),
}


class JsonStreamReader:
    """A body read in bounded chunks, one JSON value at a time, errors as ``ResultShapeError``.

    The top level and the arrays of records/series are walked here; every value inside them (one
    record, one series, one header value) is decoded whole by the C scanner of the standard
    ``json`` module. That keeps memory bounded by the chunk size plus the largest single item, and
    costs one C call per item instead of a Python step per token.

    Numbers follow the contract: integers and integral decimals (``1.0``, ``1e2``) become ``int``,
    other decimals ``Decimal``; ``NaN``/``Infinity`` are not JSON and are refused.

    ``read_chunk`` is the size of each read from ``fp`` (larger only while one item does not fit
    in what was read); the default suits landed files, the tests cut bodies into tiny chunks.
    """

    def __init__(self, fp: IO[bytes], *, read_chunk: int = READ_CHUNK) -> None:
        if read_chunk < 1:
            raise ValueError(f"read_chunk must be at least 1 byte, got {read_chunk}")
        self._fp = fp
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._pos = 0
        self._start = 0
        self._eof = False
        self._chunk = read_chunk
        #: Fewer characters than this left in the buffer before an array item: read the next
        #: chunk first, so that an item is rarely cut by the buffer's end. A cut item is scanned
        #: twice, and the scanner's error for it costs a pass over the buffer (its line number).
        self._prefill = min(PREFILL_CHARS, read_chunk // 4)
        #: How many numbers with a fraction or exponent were decoded so far: an item whose raw
        #: text had none decodes to exactly the value that was built from it.
        self.inexact_numbers = 0
        decoder = json.JSONDecoder(parse_float=self._decimal, parse_constant=_reject_constant)
        self._scan = _json_scanner.make_scanner(decoder)

    def _decimal(self, text: str) -> int | Decimal:
        self.inexact_numbers += 1
        return _number(Decimal(text))

    def _fill(self) -> bool:
        """Append the next chunk of the body to the buffer; False once the body is exhausted."""
        if self._eof:
            return False
        data = self._fp.read(max(self._chunk, len(self._buf) - self._pos))
        try:
            text = self._text.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
        self._eof = not data
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        """The next character that is not whitespace (not consumed); '' at the end of the body."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _expect(self, allowed: str, what: str) -> str:
        char = self._peek()
        if not char:
            raise ResultShapeError(_ENDED_EARLY)
        if char not in allowed:
            raise ResultShapeError(
                f"the body is not valid JSON: expecting {what} at char {self._pos}, got {char!r}"
            )
        self._pos += 1
        return char

    def _complete(self, value: Any, end: int) -> bool:
        """True if ``value``, decoded up to ``end``, cannot go on in the next chunk.

        A container, string or literal ends with its own last character; a number ends only where
        something that cannot be part of it follows, so one that reaches the end of the buffer,
        or is followed only by characters a number may go on with, waits for the next chunk.
        """
        if self._eof:
            return True
        if end >= len(self._buf):
            return False
        return type(value) not in _NUMBER_TYPES or _NUMBER_TAIL.fullmatch(self._buf, end) is None

    def _value(self) -> Any:
        """Decode the value that starts at the current position (reading more as needed)."""
        try:
            value, end = self._scan(self._buf, self._pos)
        except (StopIteration, json.JSONDecodeError, _NotJsonError, RecursionError):
            pass
        else:
            if (type(value) is dict and end < len(self._buf)) or self._complete(value, end):
                self._start, self._pos = self._pos, end
                return value
        if not self._peek():
            raise ResultShapeError(_ENDED_EARLY)
        while True:
            try:
                value, end = self._scan(self._buf, self._pos)
            except StopIteration as stop:
                if self._near_end(stop.value) and self._fill():
                    continue
                if self._at_body_end(stop.value):
                    raise ResultShapeError(_ENDED_EARLY) from None
                raise ResultShapeError(
                    f"the body is not valid JSON: expecting a value at char {stop.value}"
                ) from None
            except json.JSONDecodeError as exc:
                if self._may_be_cut(exc) and self._fill():
                    continue
                if self._at_body_end(exc.pos) or (self._eof and exc.msg.startswith("Unterminated")):
                    raise ResultShapeError(f"{_ENDED_EARLY} ({exc.msg})") from exc
                raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
            except _NotJsonError as exc:
                raise ResultShapeError(f"the body is not valid JSON: {exc}") from exc
            except RecursionError:
                raise ResultShapeError("the body nests values too deeply to be parsed") from None
            if not self._complete(value, end) and self._fill():
                continue
            self._start, self._pos = self._pos, end
            return value

    def _at_body_end(self, position: int) -> bool:
        """True if an error at ``position`` is the end of the whole body: it was cut short
        there, or in a literal or number that the body's last characters begin."""
        if not self._eof:
            return False
        rest = self._buf[position:].strip()
        return not rest or _TOKEN_PREFIX.fullmatch(rest) is not None

    def _near_end(self, position: int) -> bool:
        """True if an error at ``position`` may only mean that the value goes on in the next
        chunk (a token cut by the chunk boundary is reported within a few characters of it)."""
        return not self._eof and position >= len(self._buf) - _CUT_TOKEN_REACH

    def _may_be_cut(self, exc: json.JSONDecodeError) -> bool:
        """True if the scanner's error may only mean that the value goes on in the next chunk:
        it is reported near the end of the buffer, or it is a string that has not ended yet (the
        scanner reports that at the string's opening quote, however long the string is)."""
        return self._near_end(exc.pos) or (not self._eof and exc.msg.startswith("Unterminated"))

    def top_level_keys(self) -> Iterator[str]:
        """Yield each key of the top-level object; the caller consumes the key's value."""
        first = self._peek()
        if first != "{":
            if first in _START_EVENTS:
                raise ResultShapeError(
                    f"the body is not a JSON object (starts with {_START_EVENTS[first]})"
                )
            self._expect("{", "an object")
        self._pos += 1
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                if self._peek() != '"':
                    self._expect('"', "a property name in double quotes")
                key = self._value()
                self._expect(":", "':'")
                yield key
                if self._expect(",}", "',' or '}'") == "}":
                    break
        if self._peek():  # one answer is one object: anything after it is not part of it
            raise ResultShapeError(
                f"unexpected data after the end of the JSON object: {self._peek()!r} at "
                f"character {self._pos}"
            )

    def read_value(self) -> Any:
        """Read one complete JSON value (scalar or container)."""
        if not self._peek():
            raise ResultShapeError(_ENDED_EARLY)
        return self._value()

    def iter_array(self, what: str, raw: bool = False) -> Iterator[Any]:
        """Yield the items of the array that starts next, each built in memory on its own.

        With ``raw`` each item comes as ``(item, text)``: ``text`` is the item's JSON exactly as
        in the body when it holds no fraction or exponent (so it decodes to the same value as a
        re-serialisation would), else None.
        """
        first = self._peek()
        if first != "[":
            got = "an object" if first == "{" else repr(self.read_value())
            raise ResultShapeError(f"{what} must be an array, got {got}")
        self._pos += 1
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            if len(self._buf) - self._pos < self._prefill and not self._eof:
                self._fill()
            if raw:
                inexact = self.inexact_numbers
                item = self._value()
                text = (
                    self._buf[self._start : self._pos] if self.inexact_numbers == inexact else None
                )
                yield item, text
            else:
                # _value's fast path, inlined: an item that ends inside the buffer
                try:
                    item, end = self._scan(self._buf, self._pos)
                except (StopIteration, json.JSONDecodeError, _NotJsonError, RecursionError):
                    end = -1
                if 0 <= end < len(self._buf) and (type(item) is dict or self._complete(item, end)):
                    self._start, self._pos = self._pos, end
                else:
                    item = self._value()
                yield item
            char = self._buf[self._pos] if self._pos < len(self._buf) else ""
            if char == ",":
                self._pos += 1
                if self._pos < len(self._buf) and self._buf[self._pos] in _WHITESPACE_CHARS:
                    self._pos = _WHITESPACE.match(self._buf, self._pos).end()
            elif char == "]":
                self._pos += 1
            else:  # whitespace, the end of the buffer, or not JSON
                char = self._expect(",]", "',' or ']'")
            if char == "]":
                return


_NUMBER_TYPES = (int, Decimal)


def _number(value: Any) -> Any:
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value
