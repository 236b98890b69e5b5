"""Hostile and malformed input: each case gets a clear error or a counted drop, never a crash,
a hang or unbounded memory.

Cases that could take the interpreter down with them (the engine recursing off the end of the
stack) run in a child process, so a crash fails one test instead of killing the whole run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zlib
from typing import Any

import pytest
from xray_documents import DAEMON_HEADER, OTHER_TRACE_ID, TRACE_ID, dumps, segment, sid, trace_id

import xrfast
from xrfast import _core

DEEP = 10_000  # levels of nesting in the deep cases: far past any limit, and past the stack

GOOD = dumps(segment(1))
# `GOOD` with more members: everything inside the segment's closing brace.
OPEN = GOOD[:-1]


def rejection(source: Any, **kwargs: Any) -> tuple[str | None, str, str, int | None]:
    """(id, error code, message, offset) of the only document `source` has rejected."""
    traces = xrfast.parse(source, on_error="collect", **kwargs)
    assert len(traces) == 0
    (error,) = traces.errors
    return error.id, error.error_code, error.message, error.offset


def too_large(size: int) -> str:
    return (
        "Invalid segment. ErrorCode: DocumentTooLarge: document is larger than the limit of 65536 "
        f"bytes ({size} bytes read)"
    )


def run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    """Runs `code` in a fresh interpreter: a stack overflow there is a failed assertion here."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


# -- nesting -----------------------------------------------------------------------------------

LEVEL = '{"id":"0000000000000002","name":"n","start_time":10.0,"end_time":11.0,"subsegments":['
DEEP_SUBSEGMENTS = OPEN + ',"subsegments":[' + LEVEL * DEEP + "]}" * DEEP + "]}"
# The segment's `{` is level 1 and its `subsegments` array level 2; nested level k opens its
# object at 2k+1, so the first bracket past 512 levels is the object of nested level 256.
DEEP_SUBSEGMENTS_AT = len(OPEN + ',"subsegments":[') + 255 * len(LEVEL)

DEEP_METADATA_PREFIX = OPEN + ',"metadata":{"deep":'
DEEP_METADATA = DEEP_METADATA_PREFIX + "[" * DEEP + "]" * DEEP + "}}"
# The segment and `metadata` objects are levels 1 and 2: array 511 is level 513.
DEEP_METADATA_AT = len(DEEP_METADATA_PREFIX) + 510

TOO_DEEP = (
    "Invalid segment. ErrorCode: NestingTooDeep: JSON is nested deeper than the limit of 512 "
    "levels (at byte {})"
)

NESTING = {
    "10,000 levels of subsegments": (DEEP_SUBSEGMENTS, DEEP_SUBSEGMENTS_AT),
    "10,000 levels of subsegments, never closed": (
        OPEN + ',"subsegments":[' + LEVEL * DEEP,
        DEEP_SUBSEGMENTS_AT,
    ),
    "10,000 levels of arrays in metadata": (DEEP_METADATA, DEEP_METADATA_AT),
    "10,000 levels of arrays in metadata, never closed": (
        DEEP_METADATA_PREFIX + "[" * DEEP,
        DEEP_METADATA_AT,
    ),
    "10,000 levels of objects in metadata": (
        DEEP_METADATA_PREFIX + '{"a":' * DEEP + "1" + "}" * DEEP + "}}",
        len(DEEP_METADATA_PREFIX) + 510 * len('{"a":'),
    ),
}


@pytest.mark.parametrize("case", NESTING)
def test_deep_nesting_is_rejected_as_nesting_too_deep_before_the_parser_recurses(case):
    text, at = NESTING[case]
    # The 830 kB of deep subsegments would be stopped by the size limit first; lift it to reach
    # the depth check.
    assert rejection(text, max_document_bytes=2_000_000) == (
        sid(1),
        "NestingTooDeep",
        TOO_DEEP.format(at),
        at,
    )


def test_deep_subsegments_at_default_limits_are_stopped_by_the_size_check_first():
    assert rejection(DEEP_SUBSEGMENTS) == (
        sid(1),
        "DocumentTooLarge",
        too_large(len(DEEP_SUBSEGMENTS)),
        None,
    )


def test_a_deep_document_is_rejected_alone_and_its_neighbours_are_kept():
    lines = [
        dumps(segment(2, trace=OTHER_TRACE_ID)),
        DEEP_METADATA,
        dumps(segment(3, trace=trace_id(3))),
    ]
    assembler = xrfast.TraceAssembler()
    errors = assembler.add("\n".join(lines), now=0.0, on_error="collect")
    assert [(e.index, e.error_code) for e in errors] == [(1, "NestingTooDeep")]
    assert assembler.flush().ids == [OTHER_TRACE_ID, trace_id(3)]
    stats = assembler.stats
    assert (
        stats["documents_received"],
        stats["documents_accepted"],
        stats["documents_rejected"],
    ) == (
        3,
        2,
        1,
    )


def test_subsegments_nested_past_max_depth_are_rejected():
    level = '{"id":"0000000000000002","name":"n","start_time":10.0,"end_time":11.0,"subsegments":['
    text = OPEN + ',"subsegments":[' + level * 65 + "]}" * 65 + "]}"
    _, code, message, offset = rejection(text)
    assert (code, offset) == ("NestingTooDeep", len(OPEN + ',"subsegments":[') + 64 * len(level))
    assert message == (
        "Invalid subsegment. ErrorCode: NestingTooDeep: subsegments are nested deeper than the "
        f"limit of 64 (at byte {offset})"
    )
    assert rejection(text.replace(level * 65, level * 3).replace("]}" * 65, "]}" * 3), max_depth=2)[
        1
    ] == ("NestingTooDeep")
    assert len(xrfast.parse(text, max_depth=65)) == 1


def test_a_deeply_nested_envelope_is_an_input_format_error():
    with pytest.raises(xrfast.InputFormatError) as excinfo:
        xrfast.parse("[" + GOOD + "," + "[" * DEEP + "]" * DEEP + "]", on_error="collect")
    assert str(excinfo.value) == "the input is nested deeper than the limit of 512 levels"


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = OPEN + ',"metadata":{"text":"' + "[{" * DEEP + '"}}'
    assert xrfast.parse(text).ids == [TRACE_ID]


def test_a_deeply_nested_datagram_header_is_an_invalid_header_not_a_crash():
    # Regression: the header line was parsed with no depth check, so one UDP packet whose header
    # is 100,000 `[` overflowed the stack and killed the interpreter (SIGSEGV).
    result = run_isolated(
        """
        import xrfast
        header = "[" * 100_000
        traces = xrfast.parse(header + "\\n{}", format="datagram", on_error="collect")
        print([e.error_code for e in traces.errors])
        """
    )
    assert result.returncode == 0, f"exit status {result.returncode}; printed {result.stdout!r}"
    assert result.stdout == "['InvalidHeader']\n"


def test_parse_only_survives_a_deeply_nested_line():
    # Regression: the "sonic-rs" baseline parsed each line into a DOM with no depth check, and a
    # line of 100,000 `[` overflowed the stack (SIGSEGV). Every parser counts the line once.
    result = run_isolated(
        """
        from xrfast import _core
        line = b"[" * 100_000 + b"]" * 100_000 + b"\\n"
        for parser in ("sonic-rs-lazy", "simd-json", "serde_json", "sonic-rs"):
            print(parser, sum(_core.parse_only(line, parser)), flush=True)
        """
    )
    assert result.returncode == 0, f"exit status {result.returncode}; printed {result.stdout!r}"
    assert result.stdout.splitlines() == [
        "sonic-rs-lazy 1",
        "simd-json 1",
        "serde_json 1",
        "sonic-rs 1",
    ]


# -- size --------------------------------------------------------------------------------------


def padded(size: int) -> str:
    """A valid segment document of exactly `size` bytes."""
    empty = OPEN + ',"metadata":{"pad":""}}'
    return OPEN + ',"metadata":{"pad":"' + "x" * (size - len(empty)) + '"}}'


def test_a_document_over_64_kib_is_rejected_as_too_large():
    assert len(xrfast.parse(padded(65_536))) == 1
    assert rejection(padded(65_537)) == (
        sid(1),
        "DocumentTooLarge",
        too_large(65537),
        None,
    )


def test_a_larger_document_is_accepted_when_max_document_bytes_allows_it():
    big = padded(200_000)
    assert xrfast.parse(big, max_document_bytes=200_000).ids == [TRACE_ID]
    assembler = xrfast.TraceAssembler(max_document_bytes=200_000)
    assembler.add(big, now=0.0)
    assert assembler.stats["documents_accepted"] == 1


def test_a_datagram_over_64_kib_is_rejected_as_too_large():
    body = padded(70_000)
    assert rejection(DAEMON_HEADER + "\n" + body, format="datagram") == (
        sid(1),
        "DocumentTooLarge",
        too_large(70000),
        None,
    )


@pytest.mark.parametrize("format", ["ndjson", "auto"])
def test_an_endless_line_in_a_file_is_rejected_without_holding_it_in_memory(tmp_path, format):
    # A line longer than max_document_bytes can only be rejected, so the reader need not keep it.
    # With format="ndjson" the line is cut as it is read. Engine bug (format="auto"): a file whose
    # first chunk shows no second line is taken for one document, and a document is read whole,
    # although anything past max_document_bytes is rejected: this 200 kB gzip file holding one
    # 200 MB line grows peak memory by ~420 MB before the line is rejected.
    path = tmp_path / "one-line.ndjson.gz"
    compressor = zlib.compressobj(wbits=31)  # gzip framing; streamed, so this test stays small
    with path.open("wb") as out:
        for _ in range(200):
            out.write(compressor.compress(b"x" * (1 << 20)))
        out.write(compressor.flush())
    result = run_isolated(
        f"""
        import resource, xrfast
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        traces = xrfast.read({str(path)!r}, format={format!r}, on_error="collect")
        grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024
        print([(e.index, e.error_code) for e in traces.errors], grew_mb)
        """
    )
    assert result.returncode == 0, result.stderr
    errors, grew_mb = result.stdout.rsplit(" ", 1)
    assert errors == "[(0, 'DocumentTooLarge')]"
    assert int(grew_mb) < 64, f"peak memory grew by {grew_mb.strip()} MB"


# -- invalid text ------------------------------------------------------------------------------

INVALID_UTF8 = {
    "a byte UTF-8 never uses": b"\xff",
    "an overlong encoding": b"\xc0\xaf",
    "an encoded surrogate": b"\xed\xa0\x80",
    "a truncated sequence": b"\xe2\x82",
}


@pytest.mark.parametrize("case", INVALID_UTF8)
def test_invalid_utf8_is_invalid_json_at_the_first_bad_byte(case):
    prefix = (OPEN + ',"user":"').encode()
    text = prefix + INVALID_UTF8[case] + b'"}'
    assert rejection(text) == (
        sid(1),
        "InvalidJson",
        (
            "Invalid segment. ErrorCode: InvalidJson: document is not valid UTF-8 (at byte "
            f"{len(prefix)})"
        ),
        len(prefix),
    )
    # Raised, it is a json.JSONDecodeError whose position is that byte (all ASCII before it).
    with pytest.raises(xrfast.SegmentDecodeError) as excinfo:
        xrfast.parse(text)
    assert (excinfo.value.pos, excinfo.value.doc[: len(prefix)]) == (len(prefix), prefix.decode())


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]
NON_FINITE_DETAIL = {
    "NaN": "Invalid JSON value",
    "Infinity": "Invalid JSON value",
    "-Infinity": "Invalid number",
    "1e999": "Float number must be finite, not be Infinity or NaN",
    "-1e999": "Float number must be finite, not be Infinity or NaN",
}


@pytest.mark.parametrize("member", ["start_time", "end_time"])
@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_times_are_invalid_json(literal, member):
    original = f'"{member}":{segment(1)[member]}'
    text = GOOD.replace(original, f'"{member}":{literal}')
    # The offset is where the parser gave up: the value, the character after a `-`, or the last
    # digit of an exponent too large for a double.
    at = text.index(literal) + {"-Infinity": 1, "1e999": 4, "-1e999": 5}.get(literal, 0)
    assert rejection(text) == (
        sid(1),
        "InvalidJson",
        f"Invalid segment. ErrorCode: InvalidJson: {NON_FINITE_DETAIL[literal]} (at byte {at})",
        at,
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_words_are_invalid_json_anywhere(literal):
    assert rejection(OPEN + ',"metadata":{"x":' + literal + "}}")[1] == "InvalidJson"


@pytest.mark.parametrize(
    "member",
    [',"metadata":{"x":1e999}', ',"user":"\\ud800"'],
    ids=["overflowing number in metadata", "lone surrogate escape"],
)
def test_a_document_the_engine_accepts_can_be_read_back(member):
    # Regression: these documents are accepted (1e999 is rejected as a time, but not inside
    # metadata; a lone surrogate escape is not checked), and `Trace.segments` and `Trace.root`
    # raised orjson.JSONDecodeError on them. An accepted document must be readable.
    traces = xrfast.parse(OPEN + member + "}", on_error="collect")
    for trace in traces:
        assert trace.segments[0]["id"] == sid(1)
        assert trace.root is not None


def test_negative_times_are_rejected():
    start = GOOD.replace('"start_time":10.0', '"start_time":-1')
    assert rejection(start) == (
        sid(1),
        "InvalidStartTime",
        (
            "Invalid segment. ErrorCode: InvalidStartTime: start_time -1 is not a non-negative "
            f"number of epoch seconds (at byte {start.index('-1')})"
        ),
        start.index("-1"),
    )
    end = GOOD.replace('"end_time":11.0', '"end_time":-1')
    assert rejection(end)[1:3] == (
        "InvalidEndTime",
        (
            "Invalid segment. ErrorCode: InvalidEndTime: end_time -1 is not a non-negative number "
            f"of epoch seconds (at byte {end.index('-1')})"
        ),
    )


def test_an_end_before_the_start_is_rejected():
    assert rejection(GOOD.replace('"end_time":11.0', '"end_time":9.5')) == (
        sid(1),
        "InvalidEndTime",
        (
            "Invalid segment. ErrorCode: InvalidEndTime: end_time 9.5 is before start_time 10 (at "
            "byte 0)"
        ),
        0,
    )


DUPLICATES = {
    "id": (OPEN + ',"id":"0000000000000009"}', sid(1), "segment", ',"id":'),
    "trace_id": (OPEN + f',"trace_id":"{TRACE_ID}"}}', sid(1), "segment", ',"trace_id":'),
    "start_time": (OPEN + ',"start_time":10.5}', sid(1), "segment", ',"start_time":'),
    # Read by trace summaries.
    "user": (OPEN + ',"user":"a","user":"b"}', sid(1), "segment", ',"user":'),
    "a nested subsegment's name": (
        OPEN + ',"subsegments":[{"id":"0000000000000002","name":"a","name":"b","start_time":10.1,'
        '"end_time":10.2}]}',
        sid(2),
        "subsegment",
        '"name":"b',
    ),
}


@pytest.mark.parametrize("member", DUPLICATES)
def test_a_duplicate_member_that_x_ray_reads_is_invalid_json(member):
    text, at_fault, kind, before = DUPLICATES[member]
    key = "name" if kind == "subsegment" else member
    at = text.rindex(before) + len(before) - (2 if kind == "subsegment" else 0)
    assert rejection(text) == (
        at_fault,
        "InvalidJson",
        f'Invalid {kind}. ErrorCode: InvalidJson: duplicate key "{key}" (at byte {at})',
        at,
    )


def test_duplicate_members_x_ray_does_not_read_are_kept_verbatim():
    text = OPEN + ',"metadata":{"k":1,"k":2},"metadata":{},"service":{},"service":{"v":1}}'
    (trace,) = xrfast.parse(text)
    assert trace.to_dict()["Segments"][0]["Document"] == text


# -- floods ------------------------------------------------------------------------------------


def flood(count: int) -> list[str]:
    """`count` one-segment traces, all different."""
    return [dumps(segment(1, trace=trace_id(n))) for n in range(count)]


def test_a_flood_of_trace_ids_keeps_open_traces_bounded_and_counts_every_eviction():
    assembler = xrfast.TraceAssembler(max_open_traces=1000)
    docs = flood(200_000)
    emitted, peak_open, peak_memory = 0, 0, 0
    for start in range(0, len(docs), 10_000):
        assembler.add(docs[start : start + 10_000], now=0.0)
        stats = assembler.stats
        peak_open = max(peak_open, stats["open_traces"])
        peak_memory = max(peak_memory, stats["memory_bytes"])
        emitted += len(assembler.pop_complete(now=0.0))
    stats = assembler.stats
    assert peak_open == 1000
    assert stats["traces_evicted"] == emitted == 199_000
    assert stats["documents_accepted"] == 200_000
    # 1,000 open one-segment traces of ~130 bytes: well under 2 kB each, whatever the flood size.
    assert peak_memory < 1000 * 2048
    assert len(assembler.flush()) == 1000


def test_traces_nobody_collects_are_dropped_and_counted_not_hoarded():
    assembler = xrfast.TraceAssembler(max_open_traces=100, max_ready_traces=100)
    assembler.add(flood(20_000), now=0.0)
    stats = assembler.stats
    assert (stats["open_traces"], stats["traces_evicted"], stats["traces_dropped"]) == (
        100,
        19_900,
        19_800,
    )
    assert len(assembler.pop_complete(now=0.0)) == 100


# -- empty and odd beginnings ------------------------------------------------------------------

EMPTY = {"empty": "", "whitespace only": " \r\n\t\n  ", "a UTF-8 BOM only": "\ufeff"}


@pytest.mark.parametrize("text", EMPTY.values(), ids=list(EMPTY))
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_input_without_documents_gives_no_traces_and_no_errors(text, as_bytes):
    traces = xrfast.parse(text.encode() if as_bytes else text, on_error="collect")
    assert (len(traces), traces.errors) == (0, [])
    assert xrfast.parse([], on_error="collect").errors == []


@pytest.mark.parametrize("text", ["", " \r\n\t\n  "], ids=["empty", "whitespace only"])
def test_an_empty_document_is_invalid_json_when_a_document_is_expected(text):
    assert rejection(text, format="document") == (
        None,
        "InvalidJson",
        "Invalid segment. ErrorCode: InvalidJson: document is empty",
        None,
    )


@pytest.mark.parametrize(
    "source, format",
    [
        ("\ufeff" + GOOD, "auto"),
        (b"\xef\xbb\xbf" + GOOD.encode(), "document"),
        ("\ufeff" + GOOD + "\n" + dumps(segment(2)) + "\n", "auto"),
        ("\ufeff" + DAEMON_HEADER + "\n" + GOOD, "datagram"),
        (["\ufeff" + GOOD], "document"),
    ],
    ids=["str document", "bytes document", "ndjson", "datagram", "list item"],
)
def test_a_utf8_bom_at_the_start_of_an_input_is_skipped(source, format):
    traces = xrfast.parse(source, format=format)
    assert traces.ids == [TRACE_ID]


def test_a_bom_in_the_middle_of_ndjson_is_not_whitespace():
    # Only an input's first bytes may be a BOM; elsewhere it makes that line invalid JSON.
    traces = xrfast.parse(GOOD + "\n\ufeff" + dumps(segment(2)), on_error="collect")
    assert [(e.index, e.error_code, e.message) for e in traces.errors] == [
        (
            1,
            "InvalidJson",
            "Invalid segment. ErrorCode: InvalidJson: Invalid JSON value (at byte 0)",
        )
    ]
    assert traces[0].segment_ids == [sid(1)]


def test_parse_only_rejects_unknown_parsers_with_the_allowed_names():
    assert _core.parse_only(b"{}\n\nnot json\n", "serde_json") == (1, 1)
    with pytest.raises(ValueError) as excinfo:
        _core.parse_only(b"", "rapidjson")
    assert str(excinfo.value) == (
        'parser must be one of ["sonic-rs", "sonic-rs-lazy", "simd-json", "serde_json"], '
        'not "rapidjson"'
    )
