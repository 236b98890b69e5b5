"""Every public function, method and property of xrfast, with whole error messages.

The rules of docs/assembly.md are checked here through the public API, one rule per test; the
pure-Python reference (`xrfast.bench.reference`) is the oracle wherever a whole corpus is compared.
Assembler tests drive virtual time through `now=`, so nothing here sleeps or reads the clock.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore_shapes import assert_valid_batch_get_traces, assert_valid_put_trace_segments_result
from xray_documents import (
    DAEMON_HEADER,
    OTHER_TRACE_ID,
    TRACE_ID,
    Doc,
    datagram,
    dumps,
    segment,
    sid,
    subsegment,
    trace_id,
)

import xrfast
from xrfast import _core
from xrfast.bench import reference, workload

# A small trace used wherever the content does not matter: a segment, an AWS call streamed as an
# independent subsegment (so an inferred DynamoDB segment appears), and a child of that call.
API = segment(1, 10.0, 11.0, name="api")
CALL = subsegment(
    2,
    1,
    10.25,
    10.5,
    name="DynamoDB",
    namespace="aws",
    aws={"table_name": "orders", "operation": "GetItem"},
    http={"response": {"status": 200}},
)
STEP = subsegment(3, 2, 10.3, 10.4, name="attempt")
DOCS = [API, CALL, STEP]
# docs/assembly.md: splitmix64(sub_id ^ lo64(trace) ^ hi64(trace)), pinned once as a literal so
# the engine and the reference cannot drift together.
CALL_INFERRED_ID = "a4532e298711302d"

ALLOWED_FORMATS = (
    "'auto', 'document', 'datagram', 'ndjson', 'array', 'put_trace_segments', 'batch_get_traces'"
)


def parse_docs(*docs: Any, **kwargs: Any) -> xrfast.TraceSet:
    """Parses each value as its own document."""
    return xrfast.parse([dumps(doc) for doc in docs], format="document", **kwargs)


def one_trace(*docs: Any) -> xrfast.Trace:
    traces = parse_docs(*docs)
    assert traces.errors == []
    assert len(traces) == 1
    return traces[0]


def rejection(source: Any, **kwargs: Any) -> tuple[int, str | None, str, str, int | None]:
    """(index, id, error code, message, offset) of the only document `source` has rejected."""
    traces = xrfast.parse(source, on_error="collect", **kwargs)
    (error,) = traces.errors
    return error.index, error.id, error.error_code, error.message, error.offset


def nested(document: Doc) -> list[Any]:
    """The id tree of a rebuilt document: [id, [children...]]."""
    return [document["id"], [nested(child) for child in document.get("subsegments", [])]]


def digest(traces: xrfast.TraceSet) -> dict[str, Any]:
    return reference.digest(traces.to_dict())


def reference_digest(docs: list[bytes]) -> dict[str, Any]:
    return reference.digest({"Traces": reference.assemble(docs)})


# -- the package -------------------------------------------------------------------------------


def test_the_package_exports_its_public_api_and_version():
    assert sorted(xrfast.__all__) == sorted(
        [
            "__version__",
            "analyze",
            "parse",
            "read",
            "Analysis",
            "Trace",
            "TraceSet",
            "TraceAssembler",
            "UnprocessedTraceSegment",
            "XRayError",
            "SegmentDecodeError",
            "SegmentValidationError",
            "InputFormatError",
            "Filter",
            "FilterExpressionError",
            "compile_filter",
        ]
    )
    assert all(hasattr(xrfast, name) for name in xrfast.__all__)
    assert xrfast.__version__ == _core.__version__ == importlib.metadata.version("xrfast")


@pytest.mark.parametrize(
    "cls",
    [xrfast.Trace, xrfast.TraceSet, xrfast.UnprocessedTraceSegment, xrfast.Analysis, xrfast.Filter],
)
def test_result_objects_are_made_by_the_engine_only(cls):
    with pytest.raises(TypeError, match=rf"^cannot create 'xrfast\.{cls.__name__}' instances$"):
        cls()


# -- parse: every input format -----------------------------------------------------------------


@pytest.mark.parametrize(
    "as_source",
    [str, str.encode, lambda s: bytearray(s.encode()), lambda s: memoryview(s.encode())],
)
def test_a_single_document_is_read_from_str_bytes_bytearray_or_memoryview(as_source):
    traces = xrfast.parse(as_source(dumps(segment(1))))
    assert (traces.ids, traces[0].segment_ids, traces.errors) == ([TRACE_ID], [sid(1)], [])


def compact_texts() -> list[str]:
    return [dumps(doc) for doc in DOCS]


def as_lines(texts: list[str], *, headers: bool = False, end: str = "\n") -> str:
    return "".join((DAEMON_HEADER + end if headers else "") + text + end for text in texts)


# Every envelope X-Ray documents travel in, holding the same three documents.
ENVELOPES: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
    "list of documents": (compact_texts, {"format": "document"}),
    "tuple of bytes documents": (lambda: tuple(t.encode() for t in compact_texts()), {}),
    "list of datagrams, detected": (lambda: [datagram(d) for d in DOCS], {}),
    "list of datagrams, named": (lambda: [datagram(d) for d in DOCS], {"format": "datagram"}),
    "datagrams with a spaced, upper-case header": (
        lambda: ['{"format": "JSON", "version": 1}\n' + t for t in compact_texts()],
        {"format": "datagram"},
    ),
    "ndjson": (lambda: as_lines(compact_texts()), {}),
    "ndjson with daemon header lines": (lambda: as_lines(compact_texts(), headers=True), {}),
    "ndjson with CRLF line ends and blank lines": (
        lambda: "\r\n" + as_lines(compact_texts(), end="\r\n\r\n"),
        {},
    ),
    "ndjson in a bytearray": (
        lambda: bytearray(as_lines(compact_texts()).encode()),
        {"format": "ndjson"},
    ),
    "ndjson in a memoryview": (lambda: memoryview(as_lines(compact_texts()).encode()), {}),
    "gzip-compressed ndjson": (lambda: gzip.compress(as_lines(compact_texts()).encode()), {}),
    "json array of documents": (lambda: dumps(DOCS), {}),
    "segment, then an array document of subsegments": (
        lambda: [dumps(API), dumps([CALL, STEP])],
        {"format": "document"},
    ),
    "PutTraceSegments body": (lambda: dumps({"TraceSegmentDocuments": compact_texts()}), {}),
    "batch-get-traces output": (
        lambda: workload.to_batch_get_traces([t.encode() for t in compact_texts()]),
        {},
    ),
}


def test_the_small_trace_is_assembled_as_documented():
    trace = one_trace(*DOCS)
    assert trace.segment_ids == [sid(1), CALL_INFERRED_ID]
    assert trace.segments[0] == {**API, "subsegments": [{**CALL, "subsegments": [STEP]}]}
    assert trace.segments[1]["parent_id"] == sid(2)
    assert (trace.is_partial, trace.duration) == (False, 1.0)


@pytest.mark.parametrize("envelope", ENVELOPES)
def test_every_envelope_gives_the_same_trace(envelope):
    make, kwargs = ENVELOPES[envelope]
    traces = xrfast.parse(make(), **kwargs)
    assert traces.errors == []
    assert [t.to_dict() for t in traces] == [one_trace(*DOCS).to_dict()]


WIRE_FORMATS = {
    "to_ndjson": workload.to_ndjson,
    "to_ndjson with daemon headers": lambda docs: workload.to_ndjson(docs, daemon_headers=True),
    "to_datagrams": workload.to_datagrams,
    "to_put_trace_segments": workload.to_put_trace_segments,
    "to_batch_get_traces": workload.to_batch_get_traces,
}


@pytest.mark.parametrize("wire_format", WIRE_FORMATS)
def test_generated_corpora_in_every_wire_format_assemble_like_the_reference(
    wire_format, small_workload
):
    traces = xrfast.parse(WIRE_FORMATS[wire_format](small_workload))
    assert traces.errors == []
    assert digest(traces) == reference_digest(small_workload)
    expected = {t["Id"]: reference.trace_info(t) for t in reference.assemble(small_workload)}
    assert {t.id: {"root": t.root_id, "partial": t.is_partial} for t in traces} == expected


def test_format_names_the_envelope_instead_of_detecting_it():
    sub = subsegment(2, 1, 10.1, 10.2)
    # Detected, a top-level array is a list of documents; named "document", it is one document
    # (an array of subsegments), whose elements share its index.
    assert rejection(dumps([sub, 5])) == (
        1,
        None,
        "InvalidDocument",
        (
            "Invalid segment. ErrorCode: InvalidDocument: a segment document must be a JSON "
            "object or an array of subsegments (at byte 0)"
        ),
        0,
    )
    assert rejection(dumps([sub, 5]), format="document")[:4] == (
        0,
        None,
        "InvalidDocument",
        (
            "Invalid subsegment. ErrorCode: InvalidDocument: array element is a number, not an "
            f"object (at byte {len(dumps([sub])[:-1]) + 1})"
        ),
    )
    # `[]` is an empty list of documents, or the empty array document X-Ray rejects.
    assert len(xrfast.parse("[]", on_error="collect").errors) == 0
    assert rejection("[]", format="document") == (
        0,
        None,
        "MissingId",
        "Invalid segment. ErrorCode: MissingId: empty array document",
        None,
    )
    # A datagram read as a bare document has its header in the way.
    text = datagram(segment(1))
    assert rejection(text, format="document")[2:] == (
        "InvalidJson",
        (
            "Invalid segment. ErrorCode: InvalidJson: JSON has non-whitespace trailing characters "
            f"after the value (at byte {len(DAEMON_HEADER) + 1})"
        ),
        len(DAEMON_HEADER) + 1,
    )
    # One document is also valid NDJSON.
    assert xrfast.parse(dumps(segment(1)), format="ndjson").ids == [TRACE_ID]


@pytest.mark.parametrize(
    "call",
    [
        lambda **kw: xrfast.parse("", **kw),
        lambda **kw: xrfast.TraceAssembler().add("", **kw),
        lambda **kw: xrfast.read("/nonexistent/never-opened", **kw),
    ],
    ids=["parse", "TraceAssembler.add", "read"],
)
def test_option_names_are_checked_and_the_error_lists_the_allowed_values(call):
    with pytest.raises(ValueError) as excinfo:
        call(format="xml")
    assert str(excinfo.value) == f'format must be one of {ALLOWED_FORMATS}, not "xml"'
    with pytest.raises(ValueError) as excinfo:
        call(on_error="ignore")
    assert (
        str(excinfo.value) == "on_error must be one of 'raise', 'skip', 'collect', not \"ignore\""
    )


@pytest.mark.parametrize("source", [5, [dumps(segment(1)), 5], (5,), {"id": sid(1)}])
def test_a_source_that_is_not_text_or_bytes_is_a_type_error(source):
    kind = type(source if not isinstance(source, (list, tuple)) else source[-1]).__name__
    with pytest.raises(TypeError) as excinfo:
        xrfast.parse(source)
    assert (
        str(excinfo.value)
        == f"expected bytes, str, bytearray, memoryview or a list of them, not {kind}"
    )


def test_corrupt_gzip_input_is_an_input_format_error():
    # Engine bug: bytes that start with the gzip magic but do not decompress raise a bare
    # OSError ("unexpected end of file", "invalid gzip header"): no I/O happened, it is not an
    # XRayError, and nothing says the input was taken for gzip. A whole input that is not in the
    # form it appears to be is what InputFormatError is for.
    for corrupt in (b"\x1f\x8b", b"\x1f\x8b\x08 not gzip"):
        with pytest.raises(xrfast.InputFormatError, match="gzip"):
            xrfast.parse(corrupt, on_error="collect")


def test_gzip_that_inflates_past_max_input_bytes_is_refused_not_held(tmp_path):
    bomb = gzip.compress(b" " * 10_000_000)  # about 10 KB that inflates a thousandfold
    message = (
        "the input decompresses to more than max_input_bytes (1000000 bytes): raise the limit, "
        "or give NDJSON, which streams"
    )
    with pytest.raises(xrfast.InputFormatError) as excinfo:
        xrfast.parse(bomb, max_input_bytes=1_000_000)
    assert str(excinfo.value) == message
    with pytest.raises(xrfast.InputFormatError):
        xrfast.TraceAssembler(max_input_bytes=1_000_000).add(bomb)
    with pytest.raises(xrfast.InputFormatError):
        xrfast.analyze(bomb, max_input_bytes=1_000_000)
    # Under the limit the same bytes are read (blank input: no traces, no errors).
    assert len(xrfast.parse(bomb, max_input_bytes=10_000_000)) == 0
    # A file that is one JSON value is held whole, so the limit applies to it; NDJSON streams.
    array = write(tmp_path / "array.json.gz", b"[" + b" " * 2_000_000 + b"]", compressed=True)
    with pytest.raises(xrfast.InputFormatError, match="is one JSON value of more than"):
        xrfast.read(array, max_input_bytes=1_000_000)
    assert len(xrfast.read(array)) == 0
    lines = write(tmp_path / "blank.ndjson.gz", b"\n" * 2_000_000, compressed=True)
    assert len(xrfast.read(lines, max_input_bytes=1_000_000)) == 0
    with pytest.raises(ValueError, match="max_input_bytes must be at least 1"):
        xrfast.parse(b"", max_input_bytes=0)


def test_pretty_printed_documents_are_accepted():
    # Engine bug (since ffd5161, "Faster walk"): a number that closes a nested subsegment and is
    # followed by whitespace is rejected with '"end_time" must be a number, found a number', so
    # every pretty-printed document with nested subsegments is lost.
    nested_last_member_a_number = subsegment(3, None, 10.3, 10.4)
    text = json.dumps({**API, "subsegments": [nested_last_member_a_number]}, indent=2)
    traces = xrfast.parse(text, on_error="collect")
    assert traces.errors == []
    assert [json.dumps(s) for s in traces[0].segments] == [json.dumps(json.loads(text))]


# -- daemon headers ----------------------------------------------------------------------------


def test_an_invalid_header_line_rejects_the_document_after_it_and_only_that_one():
    a, b, c = segment(1), segment(2, trace=OTHER_TRACE_ID), segment(3, trace=trace_id(3))
    text = as_lines([dumps(a)], headers=True) + '{"format":"json","version":2}\n' + dumps(b) + "\n"
    text += as_lines([dumps(c)], headers=True)
    traces = xrfast.parse(text, on_error="collect")
    assert traces.ids == [TRACE_ID, trace_id(3)]
    assert [e.to_dict() for e in traces.errors] == [
        {
            "ErrorCode": "InvalidHeader",
            "Message": 'Invalid segment. ErrorCode: InvalidHeader: daemon header "{\\"format\\":'
            '\\"json\\",\\"version\\":2}" is not {"format": "json", "version": 1}',
        }
    ]
    assert traces.errors[0].index == 1


HEADER_PROBLEMS = {
    "no header line": (
        dumps(segment(1)),
        "InvalidHeader",
        'datagram has no header line (expected {"format": "json", "version": 1} and a newline)',
    ),
    "header is not JSON": (
        "hello\n" + dumps(segment(1)),
        "InvalidHeader",
        'daemon header "hello" is not JSON',
    ),
    "wrong format": (
        '{"format":"xml","version":1}\n' + dumps(segment(1)),
        "InvalidHeader",
        (
            'daemon header "{\\"format\\":\\"xml\\",\\"version\\":1}" is not '
            '{"format": "json", "version": 1}'
        ),
    ),
    "wrong version": (
        '{"format":"json","version":"1"}\n' + dumps(segment(1)),
        "InvalidHeader",
        (
            'daemon header "{\\"format\\":\\"json\\",\\"version\\":\\"1\\"}" is not '
            '{"format": "json", "version": 1}'
        ),
    ),
    "nothing after the header": (
        DAEMON_HEADER + "\n  ",
        "InvalidDocument",
        "datagram has no document after its header",
    ),
}


@pytest.mark.parametrize("problem", HEADER_PROBLEMS)
def test_a_bad_datagram_is_rejected_with_a_clear_message(problem):
    text, code, detail = HEADER_PROBLEMS[problem]
    assert rejection(text, format="datagram") == (
        0,
        None,
        code,
        f"Invalid segment. ErrorCode: {code}: {detail}",
        None,
    )


def test_an_invalid_header_on_the_last_line_is_reported_on_its_own():
    text = dumps(segment(1)) + '\n{"format":"json","version":2}\n'
    traces = xrfast.parse(text, on_error="collect")
    assert traces.ids == [TRACE_ID]
    assert [(e.index, e.message) for e in traces.errors] == [
        (
            1,
            (
                "Invalid segment. ErrorCode: InvalidHeader: daemon header "
                '"{\\"format\\":\\"json\\",'
                '\\"version\\":2}" is not {"format": "json", "version": 1}, and no document '
                "follows it"
            ),
        )
    ]


# -- envelopes that are wrong as a whole ---------------------------------------------------------

INPUT_FORMAT_ERRORS = {
    "PutTraceSegments without its list": (
        '{"Documents": []}',
        "put_trace_segments",
        'the input has no "TraceSegmentDocuments" member',
    ),
    "PutTraceSegments list that is not a list": (
        '{"TraceSegmentDocuments": "{}"}',
        "auto",
        '"TraceSegmentDocuments" must be an array',
    ),
    "batch-get-traces without Traces": (
        "{}",
        "batch_get_traces",
        'the input has no "Traces" member',
    ),
    "batch-get-traces Traces that is not a list": (
        '{"Traces": 5}',
        "auto",
        '"Traces" must be an array',
    ),
    "an API body that is not an object": (
        "[1]",
        "put_trace_segments",
        "the input is not a JSON object: Expected this character to be '{' at line 1 column 1",
    ),
}


@pytest.mark.parametrize("case", INPUT_FORMAT_ERRORS)
@pytest.mark.parametrize("on_error", ["raise", "skip", "collect"])
def test_an_envelope_that_is_wrong_as_a_whole_raises_input_format_error(case, on_error):
    text, format, message = INPUT_FORMAT_ERRORS[case]
    with pytest.raises(xrfast.InputFormatError) as excinfo:
        xrfast.parse(text, format=format, on_error=on_error)
    assert str(excinfo.value) == message
    assert isinstance(excinfo.value, ValueError)
    assert isinstance(excinfo.value, xrfast.XRayError)


def test_entries_of_an_api_body_that_hold_no_document_are_rejected_one_by_one():
    body = dumps({"TraceSegmentDocuments": [dumps(API), {"id": sid(9)}]})
    assert rejection(body) == (
        1,
        None,
        "InvalidDocument",
        (
            "Invalid segment. ErrorCode: InvalidDocument: TraceSegmentDocuments element must be a "
            "JSON string holding a document"
        ),
        None,
    )
    body = dumps({"Traces": [{"Id": TRACE_ID, "Segments": [{"Id": sid(1)}]}]})
    assert rejection(body)[2:4] == (
        "InvalidDocument",
        "Invalid segment. ErrorCode: InvalidDocument: a Segment has no Document",
    )


# -- read --------------------------------------------------------------------------------------


def write(path: Path, data: bytes, *, compressed: bool) -> Path:
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path


def cuts_inside_a_line(data: bytes, chunk_size: int) -> int:
    """How many times reading `data` `chunk_size` bytes at a time stops in the middle of a line
    (the reader's reads end at multiples of `chunk_size` while no line is longer than a chunk)."""
    return sum(data[at - 1] != ord("\n") for at in range(chunk_size, len(data), chunk_size))


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("headers", [False, True], ids=["ndjson", "with daemon headers"])
def test_read_streams_a_file_in_chunks_and_gives_what_parse_gives(
    tmp_path, small_workload, compressed, headers
):
    data = workload.to_ndjson(small_workload, daemon_headers=headers)
    # Larger than the corpus's first line (see the test below for smaller) and small enough that
    # many documents are cut across chunk boundaries and carried over.
    chunk_size = 4000
    assert cuts_inside_a_line(data, chunk_size) > 10
    path = write(tmp_path / "segments.ndjson", data, compressed=compressed)
    chunks = list(_core.ChunkReader(path, chunk_size=chunk_size))
    assert len(chunks) > 10
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert b"".join(chunks) == data

    traces = xrfast.read(path, chunk_size=chunk_size)
    assert traces.errors == []
    assert [t.to_dict() for t in traces] == [t.to_dict() for t in xrfast.parse(data)]


FIRST_CHUNK_CUT_SHORT = {
    "ndjson": (lambda docs: workload.to_ndjson(docs), False, 64),
    "gzip ndjson": (lambda docs: workload.to_ndjson(docs), True, 64),
    "PutTraceSegments body": (workload.to_put_trace_segments, False, 4096),
}


@pytest.mark.parametrize("case", FIRST_CHUNK_CUT_SHORT)
def test_read_detects_the_format_even_when_the_first_chunk_is_cut_short(
    tmp_path, small_workload, case
):
    # Engine bug: with format="auto" the format is guessed from the first chunk alone. When that
    # chunk holds only part of the first line (NDJSON), or an API body is longer than a chunk
    # (its key is only recognised once its whole value has been read), the file is taken for
    # one document and rejected whole (DocumentTooLarge, InvalidJson or MissingId): every trace
    # is lost. With the default chunk_size, any PutTraceSegments or batch-get-traces file over
    # 4 MiB is affected.
    envelope, compressed, chunk_size = FIRST_CHUNK_CUT_SHORT[case]
    data = envelope(small_workload)
    path = write(tmp_path / "segments", data, compressed=compressed)
    traces = xrfast.read(path, chunk_size=chunk_size, on_error="collect")
    assert traces.errors == []
    assert digest(traces) == digest(xrfast.parse(data))


def test_read_keeps_an_invalid_header_with_its_document_across_a_chunk_boundary(tmp_path):
    # Engine bug: header state does not cross chunks, so when a chunk ends right after an invalid
    # header line, the document after it (first line of the next chunk) is accepted, and the
    # header is reported as having no document, unlike parse() of the same bytes.
    bad_header = '{"format":"json","version":2}'
    first = as_lines([dumps(segment(1))], headers=True) + bad_header + "\n"
    data = (first + dumps(segment(2)) + "\n").encode()
    path = write(tmp_path / "capture.ndjson", data, compressed=False)
    chunk_size = len(first) + 5  # the first chunk ends inside the second document
    read = xrfast.read(path, chunk_size=chunk_size, on_error="collect")
    parsed = xrfast.parse(data, on_error="collect")
    assert [t.segment_ids for t in parsed] == [[sid(1)]]
    assert [t.segment_ids for t in read] == [[sid(1)]]
    assert [e.to_dict() for e in read.errors] == [e.to_dict() for e in parsed.errors]


def test_read_numbers_documents_across_chunks(tmp_path, small_workload):
    docs = [*small_workload[:40], b'{"broken"', *small_workload[40:]]
    path = write(tmp_path / "segments.ndjson", workload.to_ndjson(docs), compressed=True)
    traces = xrfast.read(path, chunk_size=2000, on_error="collect")
    assert [(e.index, e.error_code) for e in traces.errors] == [(40, "InvalidJson")]


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_read_takes_a_single_value_file_whole_whatever_the_chunk_size(tmp_path, compressed):
    body = dumps({"TraceSegmentDocuments": compact_texts()}).encode()
    path = write(tmp_path / "put.json", body, compressed=compressed)
    # The format is named: detection from a short first chunk is broken (see above).
    reader = _core.ChunkReader(str(path), format="put_trace_segments", chunk_size=16)
    assert list(reader) == [body]
    traces = xrfast.read(path, format="put_trace_segments", chunk_size=16)
    assert [t.to_dict() for t in traces] == [one_trace(*DOCS).to_dict()]


def test_read_of_a_real_sdk_capture_gives_what_parse_gives(sdk_stream):
    traces = xrfast.read(sdk_stream, chunk_size=10_000)
    assert len(traces) == 16
    assert digest(traces) == digest(xrfast.parse(sdk_stream.read_bytes()))


def test_read_applies_on_error_and_limits(tmp_path):
    path = write(
        tmp_path / "segments.ndjson",
        as_lines([dumps(segment(1)), "{", dumps(segment(2))]).encode(),
        compressed=False,
    )
    with pytest.raises(xrfast.SegmentDecodeError) as excinfo:
        xrfast.read(path)
    assert (excinfo.value.index, len(excinfo.value.errors)) == (1, 1)
    assert len(xrfast.read(path, on_error="skip")) == 1
    limited = xrfast.read(path, on_error="skip", max_segments_per_trace=1)
    assert (limited[0].segment_ids, limited[0].limit_exceeded) == ([sid(1)], True)


def test_read_reports_a_missing_file_as_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        xrfast.read(tmp_path / "missing.ndjson")
    with pytest.raises(FileNotFoundError):
        _core.ChunkReader(tmp_path / "missing.ndjson")


def test_chunk_reader_knows_the_format_once_it_has_read_a_chunk(tmp_path):
    path = write(
        tmp_path / "s.ndjson", as_lines(compact_texts(), headers=True).encode(), compressed=False
    )
    reader = _core.ChunkReader(path, chunk_size=100)
    assert reader.format == "auto"
    assert iter(reader) is reader
    first = next(reader)
    assert reader.format == "ndjson"
    assert first.startswith(DAEMON_HEADER.encode() + b"\n")
    assert _core.ChunkReader(path, format="ndjson").format == "ndjson"


# -- on_error ----------------------------------------------------------------------------------

BAD_TRACE_ID = dumps(segment(2)).replace(TRACE_ID, "1-bad")
BAD_TRACE_ID_MESSAGE = (
    'Invalid segment. ErrorCode: InvalidTraceId: trace_id "1-bad" is not 1-<8 hex digits>-<24 hex '
    f"digits> (at byte {BAD_TRACE_ID.index('1-bad') - 1})"
)
NOT_JSON = '{"id": "0000000000000004",\n "name": ]'
NOT_JSON_MESSAGE = "Invalid segment. ErrorCode: InvalidJson: Invalid JSON value (at byte 36)"
# Two good documents around two bad ones, in two traces.
BATCH = [dumps(segment(1)), BAD_TRACE_ID, dumps(segment(3, trace=OTHER_TRACE_ID)), NOT_JSON]


def test_on_error_raise_processes_the_whole_batch_then_raises_the_first_rejection():
    with pytest.raises(xrfast.SegmentValidationError) as excinfo:
        xrfast.parse(BATCH, format="document")
    error = excinfo.value
    assert str(error) == f"document 1 (id {sid(2)}): {BAD_TRACE_ID_MESSAGE}"
    assert (error.index, error.segment_id, error.error_code, error.offset) == (
        1,
        sid(2),
        "InvalidTraceId",
        BAD_TRACE_ID.index("1-bad") - 1,
    )
    # The later rejection was found too: the batch ran to its end.
    assert [(e.index, e.id, e.error_code, e.message) for e in error.errors] == [
        (1, sid(2), "InvalidTraceId", BAD_TRACE_ID_MESSAGE),
        (3, sid(4), "InvalidJson", NOT_JSON_MESSAGE),
    ]

    # An assembler keeps every valid document of a batch that raised.
    assembler = xrfast.TraceAssembler()
    with pytest.raises(xrfast.SegmentValidationError):
        assembler.add(BATCH, now=0.0, format="document")
    assert assembler.flush().ids == [TRACE_ID, OTHER_TRACE_ID]
    assert assembler.stats["documents_rejected"] == 2


def test_on_error_skip_drops_rejected_documents_silently():
    traces = xrfast.parse(BATCH, format="document", on_error="skip")
    assert (traces.ids, traces.errors) == ([TRACE_ID, OTHER_TRACE_ID], [])


def test_on_error_collect_returns_every_rejection_with_the_traces():
    traces = xrfast.parse(BATCH, format="document", on_error="collect")
    assert traces.ids == [TRACE_ID, OTHER_TRACE_ID]
    assert [e.to_dict() for e in traces.errors] == [
        {"Id": sid(2), "ErrorCode": "InvalidTraceId", "Message": BAD_TRACE_ID_MESSAGE},
        {"Id": sid(4), "ErrorCode": "InvalidJson", "Message": NOT_JSON_MESSAGE},
    ]


def test_a_decode_error_is_a_json_decode_error_that_locates_the_problem():
    with pytest.raises(json.JSONDecodeError) as excinfo:
        xrfast.parse([dumps(segment(1)), NOT_JSON], format="document")
    error = excinfo.value
    assert isinstance(error, xrfast.SegmentDecodeError)
    assert isinstance(error, xrfast.XRayError)
    assert isinstance(error, ValueError)
    assert error.msg == f"document 1 (id {sid(4)}): {NOT_JSON_MESSAGE}"
    assert (error.doc, error.pos, error.lineno, error.colno) == (NOT_JSON, 36, 2, 10)
    assert error.doc[error.pos] == "]"
    assert str(error) == f"{error.msg}: line 2 column 10 (char 36)"
    assert (error.index, error.segment_id, error.error_code, error.offset) == (
        1,
        sid(4),
        "InvalidJson",
        36,
    )
    assert [e.index for e in error.errors] == [1]


def test_a_decode_error_position_counts_characters_like_json_decode_error():
    # Engine bug: `pos` is the byte offset, but json.JSONDecodeError.pos indexes the `doc`
    # string, so every non-ASCII character before the problem shifts pos, lineno and colno.
    text = '{"name": "héllo wörld", "id": ]'
    with pytest.raises(xrfast.SegmentDecodeError) as excinfo:
        xrfast.parse(text)
    with pytest.raises(json.JSONDecodeError) as stdlib:
        json.loads(text)
    error = excinfo.value
    assert error.doc == text
    assert (error.pos, error.lineno, error.colno) == (
        stdlib.value.pos,
        stdlib.value.lineno,
        stdlib.value.colno,
    )
    assert error.doc[error.pos] == "]"
    # The byte offset stays available where it belongs.
    assert error.offset == len(text[: stdlib.value.pos].encode())


def test_a_validation_error_is_a_value_error_with_the_x_ray_error_code():
    with pytest.raises(ValueError) as excinfo:
        xrfast.parse(BAD_TRACE_ID)
    assert isinstance(excinfo.value, xrfast.SegmentValidationError)
    assert isinstance(excinfo.value, xrfast.XRayError)
    assert not isinstance(excinfo.value, json.JSONDecodeError)
    assert excinfo.value.error_code == "InvalidTraceId"


@pytest.mark.parametrize(
    "batch, raised",
    [
        ([NOT_JSON, BAD_TRACE_ID], xrfast.SegmentDecodeError),
        ([BAD_TRACE_ID, NOT_JSON], xrfast.SegmentValidationError),
    ],
)
def test_the_first_rejection_decides_the_exception_class_and_all_are_attached(batch, raised):
    with pytest.raises(xrfast.XRayError) as excinfo:
        xrfast.parse(batch, format="document")
    assert type(excinfo.value) is raised
    assert [e.index for e in excinfo.value.errors] == [0, 1]


# -- UnprocessedTraceSegment -------------------------------------------------------------------


def test_an_unprocessed_segment_describes_one_rejection():
    (error,) = xrfast.parse(BAD_TRACE_ID, on_error="collect").errors
    assert (error.index, error.id, error.error_code, error.message, error.offset) == (
        0,
        sid(2),
        "InvalidTraceId",
        BAD_TRACE_ID_MESSAGE,
        BAD_TRACE_ID.index("1-bad") - 1,
    )
    assert error.to_dict() == {
        "Id": sid(2),
        "ErrorCode": "InvalidTraceId",
        "Message": BAD_TRACE_ID_MESSAGE,
    }
    assert list(error.to_dict()) == ["Id", "ErrorCode", "Message"]
    assert str(error) == f"document 0 (id {sid(2)}): {BAD_TRACE_ID_MESSAGE}"
    assert repr(error) == (
        f'UnprocessedTraceSegment(index=0, id="{sid(2)}", error_code="InvalidTraceId", '
        f'message="{BAD_TRACE_ID_MESSAGE.replace(chr(34), chr(92) + chr(34))}")'
    )
    with pytest.raises(AttributeError):
        error.index = 5


def test_an_unprocessed_segment_without_a_readable_id_leaves_id_out():
    (error,) = xrfast.parse("[]", format="document", on_error="collect").errors
    assert error.id is None
    assert error.to_dict() == {
        "ErrorCode": "MissingId",
        "Message": "Invalid segment. ErrorCode: MissingId: empty array document",
    }
    assert str(error) == "document 0: Invalid segment. ErrorCode: MissingId: empty array document"


def test_unprocessed_segments_are_a_valid_put_trace_segments_response():
    traces = xrfast.parse([*BATCH, "[]", DAEMON_HEADER], format="document", on_error="collect")
    assert len(traces.errors) == 4
    assert_valid_put_trace_segments_result([e.to_dict() for e in traces.errors])


# -- TraceAssembler ----------------------------------------------------------------------------


def test_a_complete_trace_is_emitted_once_idle_for_idle_timeout_and_not_before():
    assembler = xrfast.TraceAssembler(idle_timeout=5.0)
    assembler.add(dumps(API), now=100.0)
    assembler.add(dumps(CALL), now=103.0)  # a new document restarts the idle clock
    assert len(assembler.pop_complete(now=107.9)) == 0
    (trace,) = assembler.pop_complete(now=108.0)
    assert (trace.id, trace.is_partial) == (TRACE_ID, False)
    assert len(assembler.pop_complete(now=1e9)) == 0


def test_an_incomplete_trace_waits_for_incomplete_timeout_and_comes_out_partial():
    assembler = xrfast.TraceAssembler(idle_timeout=5.0, incomplete_timeout=60.0)
    assembler.add(dumps(segment(1, end=None)), now=100.0)
    assert len(assembler.pop_complete(now=105.0)) == 0
    assert len(assembler.pop_complete(now=159.9)) == 0
    (trace,) = assembler.pop_complete(now=160.0)
    assert (trace.is_partial, trace.root_id, trace.duration) == (True, sid(1), 0.0)


def test_a_trace_completed_before_anyone_looked_is_emitted_complete():
    assembler = xrfast.TraceAssembler(idle_timeout=5.0, incomplete_timeout=60.0)
    assembler.add(dumps(segment(1, end=None)), now=0.0)
    assembler.add(dumps(segment(1)), now=10.0)
    (trace,) = assembler.pop_complete(now=15.0)
    assert (trace.is_partial, trace.segments[0]["end_time"]) == (False, 11.0)


def test_an_in_progress_trace_completed_later_is_emitted_once_idle_for_idle_timeout():
    # Engine bug: once pop_complete has seen the trace incomplete it is not looked at again until
    # incomplete_timeout after its last document, even if the completing document arrives first;
    # here it comes out at now=60 instead of now=15.
    assembler = xrfast.TraceAssembler(idle_timeout=5.0, incomplete_timeout=60.0)
    assembler.add(dumps(segment(1, end=None)), now=0.0)
    assert len(assembler.pop_complete(now=5.0)) == 0
    assembler.add(dumps(segment(1)), now=10.0)
    assert len(assembler.pop_complete(now=14.9)) == 0
    complete = assembler.pop_complete(now=15.0)
    assert [(t.id, t.is_partial) for t in complete] == [(TRACE_ID, False)]


def test_flush_emits_every_trace_in_arrival_order_and_empties_the_assembler():
    assembler = xrfast.TraceAssembler()
    assembler.add([dumps(segment(1, trace=OTHER_TRACE_ID)), dumps(segment(2, end=None))], now=0.0)
    assert assembler.open_traces == 2
    traces = assembler.flush()
    assert [(t.id, t.is_partial) for t in traces] == [(OTHER_TRACE_ID, False), (TRACE_ID, True)]
    assert traces.errors == []
    assert (assembler.open_traces, len(assembler.flush())) == (0, 0)
    assert assembler.stats["traces_emitted"] == 2


def test_a_document_for_an_emitted_trace_starts_a_new_trace_with_the_same_id():
    assembler = xrfast.TraceAssembler()
    assembler.add(dumps(API), now=0.0)
    assert assembler.flush().ids == [TRACE_ID]
    assembler.add(dumps(CALL), now=1.0)
    (late,) = assembler.flush()
    assert (late.id, late.segment_ids, late.is_partial) == (TRACE_ID, [], True)  # an orphan


def test_stats_count_every_document_exactly_once():
    assembler = xrfast.TraceAssembler(max_segments_per_trace=2)
    rejected = assembler.add(
        [dumps(API), dumps(CALL), "{", dumps(STEP), dumps([subsegment(7, 1, 10.1, 10.2), 5])],
        now=50.0,
        format="document",
        on_error="collect",
    )
    # The array document counts once per element; STEP and the array's good element come after
    # the trace is full.
    assert [(e.index, e.error_code) for e in rejected] == [
        (2, "InvalidJson"),
        (4, "InvalidDocument"),
    ]
    stats = assembler.stats
    assert {k: v for k, v in stats.items() if not k.startswith(("buffered", "memory"))} == {
        "documents_received": 6,
        "documents_accepted": 2,
        "documents_rejected": 2,
        "documents_dropped": 2,
        "traces_evicted": 0,
        "traces_emitted": 0,
        "traces_dropped": 0,
        "open_traces": 1,
    }
    assert stats["documents_received"] == (
        stats["documents_accepted"] + stats["documents_rejected"] + stats["documents_dropped"]
    )
    assert stats["buffered_segments"] == 2
    assert stats["buffered_bytes"] == len(dumps(API)) + len(dumps(CALL))
    assert stats["memory_bytes"] >= stats["buffered_bytes"]
    assert assembler.flush()[0].limit_exceeded is True
    assert {
        k: assembler.stats[k] for k in ("buffered_segments", "buffered_bytes", "memory_bytes")
    } == {
        "buffered_segments": 0,
        "buffered_bytes": 0,
        "memory_bytes": 0,
    }


def test_max_open_traces_evicts_the_oldest_open_trace_and_counts_it():
    assembler = xrfast.TraceAssembler(max_open_traces=2)
    for n in range(3):
        assembler.add(dumps(segment(1, end=None, trace=trace_id(n))), now=float(n))
    assert (assembler.open_traces, assembler.stats["traces_evicted"]) == (2, 1)
    # Evicted traces come out of the next pop_complete as they are, long before any timeout.
    (evicted,) = assembler.pop_complete(now=3.0)
    assert (evicted.id, evicted.is_partial) == (trace_id(0), True)
    assert [t.id for t in assembler.flush()] == [trace_id(1), trace_id(2)]


def test_max_ready_traces_drops_uncollected_traces_and_counts_them():
    assembler = xrfast.TraceAssembler(max_open_traces=1, max_ready_traces=2)
    for n in range(5):
        assembler.add(dumps(segment(1, trace=trace_id(n))), now=0.0)
    assert assembler.stats["traces_dropped"] == 2  # trace 0 and 1, the oldest waiting
    assert assembler.pop_complete(now=0.0).ids == [trace_id(2), trace_id(3)]
    assert assembler.stats["traces_evicted"] == 4


def test_max_trace_bytes_drops_documents_past_it_and_marks_the_trace():
    limit = len(dumps(API)) + len(dumps(CALL))
    assembler = xrfast.TraceAssembler(max_trace_bytes=limit)
    assembler.add([dumps(API), dumps(CALL), dumps(STEP)], now=0.0)
    assert assembler.stats["documents_dropped"] == 1
    (trace,) = assembler.flush()
    assert (trace.limit_exceeded, trace.to_dict()["LimitExceeded"]) == (True, True)
    assert nested(trace.segments[0]) == [sid(1), [[sid(2), []]]]


def test_max_segments_per_trace_counts_nested_subsegments_too():
    with_children = segment(1, subsegments=[subsegment(2, None, 10.1, 10.2)])
    assembler = xrfast.TraceAssembler(max_segments_per_trace=2)
    assembler.add([dumps(with_children), dumps(subsegment(3, 1, 10.3, 10.4))], now=0.0)
    assert (assembler.stats["documents_accepted"], assembler.stats["documents_dropped"]) == (1, 1)
    (trace,) = assembler.flush()
    assert trace.limit_exceeded is True
    assert nested(trace.segments[0]) == [sid(1), [[sid(2), []]]]


def test_add_returns_collected_rejections_and_nothing_otherwise():
    assembler = xrfast.TraceAssembler()
    assert assembler.add(dumps(API), now=0.0) == []
    assert assembler.add(BAD_TRACE_ID, now=0.0, on_error="skip") == []
    (error,) = assembler.add(BAD_TRACE_ID, now=0.0, on_error="collect")
    assert (error.index, error.error_code) == (0, "InvalidTraceId")
    assert assembler.stats["documents_rejected"] == 2


def test_event_time_is_the_latest_time_any_accepted_entity_carries():
    assembler = xrfast.TraceAssembler()
    assert assembler.event_time == 0.0
    assembler.add([dumps(CALL), dumps(segment(5, 20.0, None, trace=OTHER_TRACE_ID))], now=0.0)
    assert assembler.event_time == 20.0
    assembler.add(dumps(API), now=0.0)
    assert assembler.event_time == 20.0


def test_assembler_repr_shows_what_it_holds():
    assembler = xrfast.TraceAssembler()
    assembler.add([dumps(doc) for doc in DOCS], now=0.0)
    assert repr(assembler) == "TraceAssembler(open_traces=1, buffered_segments=3)"


BAD_LIMITS = [
    ({"max_open_traces": 0}, ValueError, "max_open_traces must be at least 1"),
    ({"max_segments_per_trace": 0}, ValueError, "max_segments_per_trace must be at least 1"),
    ({"max_trace_bytes": 0}, ValueError, "max_trace_bytes must be at least 1"),
    ({"max_ready_traces": 0}, ValueError, "max_ready_traces must be at least 1"),
    ({"max_document_bytes": 0}, ValueError, "max_document_bytes must be at least 1"),
    (
        {"max_document_bytes": 2**31},
        ValueError,
        "max_document_bytes and max_trace_bytes must be below 2 GiB",
    ),
    (
        {"max_trace_bytes": 2**31},
        ValueError,
        "max_document_bytes and max_trace_bytes must be below 2 GiB",
    ),
    ({"max_depth": 1001}, ValueError, "max_depth must be at most 1000"),
    ({"max_json_depth": 1001}, ValueError, "max_json_depth must be at most 1000"),
    ({"idle_timeout": -1.0}, ValueError, "idle_timeout must be a non-negative number of seconds"),
    (
        {"incomplete_timeout": float("nan")},
        ValueError,
        "incomplete_timeout must be a non-negative number of seconds",
    ),
    (
        {"idle_timeout": float("inf")},
        ValueError,
        "idle_timeout must be a non-negative number of seconds",
    ),
    ({"max_open_traces": -1}, OverflowError, "can't convert negative int to unsigned"),
]


def limit_cases(cases: list[tuple[dict[str, Any], type[Exception], str]]) -> list[Any]:
    """pytest params named by their arguments, e.g. ``max_depth=1001``."""
    return [
        pytest.param(*case, id=",".join(f"{k}={v}" for k, v in case[0].items())) for case in cases
    ]


@pytest.mark.parametrize("kwargs, error, message", limit_cases(BAD_LIMITS))
def test_bad_assembler_limits_are_clear_errors(kwargs, error, message):
    with pytest.raises(error) as excinfo:
        xrfast.TraceAssembler(**kwargs)
    assert str(excinfo.value) == message


PARSE_OPTIONS = {
    "max_segments_per_trace",
    "max_trace_bytes",
    "max_document_bytes",
    "max_depth",
    "max_json_depth",
}


@pytest.mark.parametrize(
    "kwargs, error, message",
    limit_cases(
        [case for case in BAD_LIMITS if set(case[0]) <= PARSE_OPTIONS]
        + [({"max_depth": -1}, OverflowError, "can't convert negative int to unsigned")]
    ),
)
@pytest.mark.parametrize("entry_point", ["parse", "read"])
def test_parse_and_read_check_their_limits_the_same_way(
    kwargs, error, message, entry_point, tmp_path
):
    path = write(tmp_path / "s.ndjson", b"", compressed=False)
    call = {
        "parse": lambda: xrfast.parse("", **kwargs),
        "read": lambda: xrfast.read(path, **kwargs),
    }
    with pytest.raises(error) as excinfo:
        call[entry_point]()
    assert str(excinfo.value) == message


def test_assembler_options_are_keyword_only():
    with pytest.raises(TypeError):
        xrfast.TraceAssembler(5.0)
    with pytest.raises(TypeError):
        xrfast.TraceAssembler().add(dumps(API), 0.0)


def test_an_incomplete_timeout_shorter_than_idle_timeout_is_raised_to_it():
    assembler = xrfast.TraceAssembler(idle_timeout=10.0, incomplete_timeout=1.0)
    assembler.add(dumps(segment(1, end=None)), now=0.0)
    assert len(assembler.pop_complete(now=9.9)) == 0
    assert len(assembler.pop_complete(now=10.0)) == 1


# -- Trace -------------------------------------------------------------------------------------


def test_trace_properties_describe_the_assembled_trace():
    trace = one_trace(*DOCS)
    assert trace.id == TRACE_ID
    assert trace.root_id == sid(1)
    assert trace.root == trace.segments[0]
    assert trace.segment_ids == [s["id"] for s in trace.segments] == [sid(1), CALL_INFERRED_ID]
    assert (trace.is_partial, trace.limit_exceeded, trace.duration, trace.revision) == (
        False,
        False,
        1.0,
        0,
    )
    assert len(trace) == 2


def test_trace_repr_names_the_trace_and_its_size():
    trace = one_trace(segment(1, 10.0, 11.5, subsegments=[subsegment(2, None, 10.5, None)]))
    assert repr(trace) == f'Trace(id="{TRACE_ID}", segments=1, partial=True, duration=1.5)'


def test_trace_to_dict_is_the_batch_get_traces_shape_and_to_json_its_bytes():
    trace = one_trace(*DOCS)
    as_dict = trace.to_dict()
    assert list(as_dict) == ["Id", "Duration", "LimitExceeded", "Segments"]
    assert as_dict == {
        "Id": TRACE_ID,
        "Duration": 1.0,
        "LimitExceeded": False,
        "Segments": [
            {"Id": s["id"], "Document": json.dumps(s, separators=(",", ":"))}
            for s in trace.segments
        ],
    }
    assert json.loads(trace.to_json()) == as_dict
    # Times xrfast writes itself are doubles, never integers (docs/assembly.md).
    assert trace.to_json().startswith(b'{"Id":"' + TRACE_ID.encode() + b'","Duration":1.0,')


COLUMN_DTYPES = {
    "trace": np.uint32,
    "id": np.uint64,
    "parent_id": np.uint64,
    "kind": np.uint8,
    "start": np.float64,
    "end": np.float64,
    "duration": np.float64,
    "error": np.bool_,
    "throttle": np.bool_,
    "fault": np.bool_,
}


def test_trace_columns_have_one_row_per_segment_inferred_segment_and_subsegment():
    throttled = subsegment(3, 2, 10.3, None, name="attempt", error=True, throttle=True)
    columns = one_trace(API, CALL, throttled).columns()
    assert {name: array.dtype for name, array in columns.items()} == {
        name: np.dtype(dtype) for name, dtype in COLUMN_DTYPES.items()
    }
    # Segments in output order, then subsegments in arrival order.
    assert columns["trace"].tolist() == [0, 0, 0, 0]
    assert columns["id"].tolist() == [1, int(CALL_INFERRED_ID, 16), 2, 3]
    assert columns["parent_id"].tolist() == [0, 2, 1, 2]
    assert columns["kind"].tolist() == [0, 2, 1, 1]
    assert columns["start"].tolist() == [10.0, 10.25, 10.25, 10.3]
    np.testing.assert_array_equal(columns["end"], [11.0, 10.5, 10.5, np.nan])
    np.testing.assert_array_equal(columns["duration"], [1.0, 0.25, 0.25, np.nan])
    assert columns["error"].tolist() == [False, False, False, True]
    assert columns["throttle"].tolist() == [False, False, False, True]
    assert columns["fault"].tolist() == [False] * 4


def test_a_trace_made_only_of_orphans_has_no_segments_and_no_root():
    trace = one_trace(subsegment(2, 1, 10.1, 10.2))
    assert (trace.segments, trace.segment_ids, trace.root, trace.root_id) == ([], [], None, None)
    assert (trace.is_partial, trace.duration, len(trace)) == (True, 0.0, 0)
    assert trace.to_dict() == {
        "Id": TRACE_ID,
        "Duration": 0.0,
        "LimitExceeded": False,
        "Segments": [],
    }
    assert all(len(column) == 0 for column in trace.columns().values())


# -- TraceSet ----------------------------------------------------------------------------------


def test_a_trace_set_is_a_read_only_sequence_of_traces():
    traces = parse_docs(*(segment(1, trace=trace_id(n)) for n in range(3)))
    assert len(traces) == 3
    assert [traces[i].id for i in (0, 1, 2, -1, -3)] == [
        trace_id(0),
        trace_id(1),
        trace_id(2),
        trace_id(2),
        trace_id(0),
    ]
    for index in (3, -4):
        with pytest.raises(IndexError, match=r"^TraceSet index out of range$"):
            traces[index]
    assert [t.id for t in traces] == traces.ids == [trace_id(n) for n in range(3)]
    assert list(iter(traces))[1].id == trace_id(1)
    assert repr(traces) == "TraceSet(traces=3, errors=0)"
    with pytest.raises(TypeError):
        traces[0:2]


def test_a_trace_set_carries_the_rejections_only_when_collected():
    assert xrfast.parse([dumps(API), "{"], format="document", on_error="skip").errors == []
    collected = xrfast.parse([dumps(API), "{"], format="document", on_error="collect")
    assert [e.index for e in collected.errors] == [1]
    assert repr(collected) == "TraceSet(traces=1, errors=1)"


def test_trace_set_stats_count_what_the_call_did():
    counters = {
        "documents_received": 4,
        "documents_accepted": 2,
        "documents_rejected": 2,
        "documents_dropped": 0,
        "traces_evicted": 0,
        "traces_emitted": 2,
        "traces_dropped": 0,
    }
    assert xrfast.parse(BATCH, format="document", on_error="skip").stats == counters
    # From an assembler: its counters so far, whichever call made the set.
    assembler = xrfast.TraceAssembler()
    assembler.add(BATCH, now=0.0, format="document", on_error="skip")
    assert assembler.pop_complete(now=1.0).stats == {**counters, "traces_emitted": 0}
    assert assembler.flush().stats == counters


def test_trace_set_to_json_and_to_dict_are_a_batch_get_traces_response():
    traces = parse_docs(*DOCS, segment(5, trace=OTHER_TRACE_ID))
    assert traces.to_dict() == {"Traces": [t.to_dict() for t in traces]}
    assert json.loads(traces.to_json()) == traces.to_dict()
    assert xrfast.parse("").to_dict() == {"Traces": []}
    assert xrfast.parse("").to_json() == b'{"Traces":[]}'


def test_trace_set_columns_index_the_set_and_count_every_reachable_entity(small_workload):
    traces = xrfast.parse(small_workload)
    columns = traces.columns()
    assert {name: array.dtype for name, array in columns.items()} == {
        name: np.dtype(dtype) for name, dtype in COLUMN_DTYPES.items()
    }
    assert len({len(array) for array in columns.values()}) == 1

    def subsegment_count(document: Doc) -> int:
        return sum(1 + subsegment_count(s) for s in document.get("subsegments", []))

    rows = [len(t) + sum(subsegment_count(s) for s in t.segments) for t in traces]
    assert np.bincount(columns["trace"], minlength=len(traces)).tolist() == rows
    for index, trace in enumerate(traces):
        mine = columns["trace"] == index
        assert [
            f"{i:016x}" for i in columns["id"][mine & (columns["kind"] != 1)]
        ] == trace.segment_ids
        np.testing.assert_array_equal(trace.columns()["id"], columns["id"][mine])


# -- assembly rules (docs/assembly.md), through the public API ---------------------------------


def test_an_orphan_is_left_out_but_makes_the_trace_partial():
    trace = one_trace(API, subsegment(9, 8, 10.1, 10.2))
    assert nested(trace.segments[0]) == [sid(1), []]
    assert (trace.is_partial, trace.root_id) == (True, sid(1))
    assert 9 not in trace.columns()["id"].tolist()


@pytest.mark.parametrize("orphan_first", [True, False], ids=["orphan first", "parent first"])
def test_an_orphan_is_adopted_when_its_parent_arrives_nested_in_another_document(orphan_first):
    # The SDK streams a finished child of a still-open subsegment; the subsegment itself comes
    # later, nested inside the segment document.
    child = subsegment(3, 2, 10.2, 10.3)
    parent = segment(1, subsegments=[subsegment(2, None, 10.1, 10.5)])
    docs = [child, parent] if orphan_first else [parent, child]
    trace = one_trace(*docs)
    assert nested(trace.segments[0]) == [sid(1), [[sid(2), [[sid(3), []]]]]]
    assert trace.is_partial is False


SAME_ID = {
    # stored, new -> kept document, revision
    "in progress, then complete: replaced": (None, 12.0, 12.0, 0),
    "in progress, then in progress: replaced": (None, None, None, 0),
    "complete, then in progress: ignored": (12.0, None, 12.0, 0),
    "complete, then complete: last write wins": (12.0, 13.0, 13.0, 1),
}


@pytest.mark.parametrize("case", SAME_ID)
def test_the_same_id_arriving_again_follows_the_table(case):
    stored, new, kept, revision = SAME_ID[case]
    first = segment(1, 10.0, stored, name="first")
    second = segment(1, 10.0, new, name="second")
    trace = one_trace(first, second)
    (document,) = trace.segments
    assert document.get("end_time") == kept
    assert document["name"] == ("first" if case.endswith("ignored") else "second")
    assert (trace.revision, trace.is_partial) == (revision, kept is None)


def test_replacing_an_entity_keeps_the_children_other_documents_attached():
    trace = one_trace(segment(1, end=None), subsegment(2, 1, 10.1, 10.2), segment(1, name="done"))
    assert trace.segments[0]["name"] == "done"
    assert nested(trace.segments[0]) == [sid(1), [[sid(2), []]]]


def test_the_inferred_segment_document_is_exactly_as_documented():
    call = subsegment(
        2,
        None,
        10.5,
        10.75,
        name="dynamodb",
        namespace="aws",
        http={"response": {"status": 400}},
        aws={"table_name": "t", "operation": "GetItem"},
        error=True,
        throttle=False,
        fault=True,
    )
    trace = one_trace(segment(1, 10, 12, subsegments=[call]))
    inferred = trace.segments[1]
    assert list(inferred.items()) == [
        ("id", reference.inferred_id(TRACE_ID, sid(2))),
        ("name", "dynamodb"),
        ("start_time", 10.5),
        ("end_time", 10.75),
        ("parent_id", sid(2)),
        ("trace_id", TRACE_ID),
        ("inferred", True),
        ("origin", "AWS::DynamoDB::Table"),
        ("http", {"response": {"status": 400}}),
        ("aws", {"table_name": "t", "operation": "GetItem"}),
        ("error", True),
        ("fault", True),
    ]
    assert reference.inferred_id(TRACE_ID, sid(2)) == CALL_INFERRED_ID
    # Times xrfast writes are doubles even when the subsegment sent integers.
    call_at_ints = {**CALL, "start_time": 10, "end_time": 11}
    text = one_trace(segment(1, 9, 12), call_at_ints).to_dict()["Segments"][1]["Document"]
    assert '"start_time":10.0,"end_time":11.0,' in text


def test_an_in_progress_call_gives_an_in_progress_inferred_segment():
    call = subsegment(2, 1, 10.25, None, name="example.com", namespace="remote")
    trace = one_trace(API, call)
    inferred = trace.segments[1]
    assert list(inferred)[:5] == ["id", "name", "start_time", "in_progress", "parent_id"]
    assert (inferred["in_progress"], inferred["origin"], trace.is_partial) == (True, "remote", True)


ORIGINS = [
    ("remote", "api.example.com", None, "remote"),
    ("aws", "DynamoDB", {"table_name": "t"}, "AWS::DynamoDB::Table"),
    ("aws", "dynamodb", {"table_name": "t"}, "AWS::DynamoDB::Table"),
    ("aws", "DynamoDB", {"operation": "ListTables"}, "AWS::DynamoDB"),
    ("aws", "SQS", {"queue_url": "https://sqs/q"}, "AWS::SQS::Queue"),
    ("aws", "Lambda", {"function_name": "f"}, "AWS::Lambda::Function"),
    ("aws", "s3", {"bucket_name": "b"}, "AWS::S3::Bucket"),
    ("aws", "SNS", {"topic_arn": "arn"}, "AWS::SNS"),
    ("aws", "SQS", None, "AWS::SQS"),
    ("local", "render", None, None),
    (None, "render", None, None),
]


@pytest.mark.parametrize("namespace, name, aws, origin", ORIGINS)
def test_the_inferred_origin_follows_namespace_name_and_aws_resource(namespace, name, aws, origin):
    members: dict[str, Any] = {"name": name}
    if namespace is not None:
        members["namespace"] = namespace
    if aws is not None:
        members["aws"] = aws
    trace = one_trace(API, subsegment(2, 1, 10.1, 10.2, **members))
    inferred = [s for s in trace.segments if s.get("inferred")]
    assert [s["origin"] for s in inferred] == ([] if origin is None else [origin])


def test_a_real_downstream_segment_replaces_the_inferred_one():
    callee = segment(5, 10.3, 10.4, name="orders-db", parent_id=sid(2))
    trace = one_trace(*DOCS, callee)
    assert trace.segment_ids == [sid(1), sid(5)]
    assert trace.root_id == sid(1)
    # A segment whose parent is a subsegment is its own document, not a child of it.
    assert nested(trace.segments[0]) == [sid(1), [[sid(2), [[sid(3), []]]]]]


@pytest.mark.parametrize("callee_arrives", [False, True])
def test_a_traced_call_keeps_the_trace_partial_until_its_callee_reports(callee_arrives):
    call = subsegment(2, 1, 10.1, 10.4, name="inventory", http={"request": {"traced": True}})
    docs: list[Doc] = [API, call]
    if callee_arrives:
        docs.append(segment(5, 10.2, 10.3, name="inventory", parent_id=sid(2)))
    assert one_trace(*docs).is_partial is not callee_arrives


ROOTS = {
    "the segment without a parent": ([segment(2, 9.0, parent_id=sid(1)), segment(1)], sid(1)),
    "a parent id naming nothing in the trace": ([segment(3, parent_id=sid(77))], sid(3)),
    "the earliest of several": ([segment(4, 12.0, 13.0), segment(5, 11.0, 13.0)], sid(5)),
    "the smallest id at the same start": ([segment(6), segment(5)], sid(5)),
    "none when every parent resolves": (
        [segment(7, parent_id=sid(8)), segment(8, parent_id=sid(7))],
        None,
    ),
}


@pytest.mark.parametrize("case", ROOTS)
def test_the_root_is_chosen_as_documented(case):
    docs, root = ROOTS[case]
    trace = one_trace(*docs)
    assert trace.root_id == root
    assert trace.root == (None if root is None else trace.segments[trace.segment_ids.index(root)])


def test_the_subsegments_member_is_rebuilt_where_it_was():
    doc = segment(1, subsegments=[subsegment(2, None, 10.5, 10.6)], user="u")
    (rebuilt,) = one_trace(doc, subsegment(3, 1, 10.2, 10.3)).segments
    assert list(rebuilt) == [
        "id",
        "name",
        "start_time",
        "end_time",
        "trace_id",
        "subsegments",
        "user",
    ]
    assert nested(rebuilt) == [sid(1), [[sid(3), []], [sid(2), []]]]


def test_the_subsegments_member_is_appended_last_when_the_object_had_none():
    (rebuilt,) = one_trace(segment(1, user="u"), subsegment(2, 1, 10.1, 10.2)).segments
    assert list(rebuilt)[-2:] == ["user", "subsegments"]


def test_an_empty_subsegments_member_is_left_out():
    (rebuilt,) = one_trace(segment(1, subsegments=[], user="u")).segments
    assert list(rebuilt) == ["id", "name", "start_time", "end_time", "trace_id", "user"]


def test_children_are_sorted_by_start_time_then_id():
    children = [
        subsegment(n, 1, start, start + 0.1) for n, start in [(5, 10.2), (4, 10.2), (3, 10.1)]
    ]
    (rebuilt,) = one_trace(segment(1), *children).segments
    assert nested(rebuilt) == [sid(1), [[sid(3), []], [sid(4), []], [sid(5), []]]]


def test_a_nested_subsegment_belongs_to_the_object_containing_it_whatever_its_parent_id():
    inner = subsegment(3, None, 10.2, 10.3, parent_id=sid(77))
    outer = segment(1, subsegments=[subsegment(2, None, 10.1, 10.5, subsegments=[inner])])
    trace = one_trace(outer)
    assert nested(trace.segments[0]) == [sid(1), [[sid(2), [[sid(3), []]]]]]
    assert trace.is_partial is False


def test_only_subsegments_reachable_from_a_segment_yield_inferred_segments():
    orphan_call = subsegment(2, 8, 10.1, 10.2, name="SNS", namespace="aws")
    trace = one_trace(API, orphan_call)
    assert trace.segment_ids == [sid(1)]


def test_duration_spans_the_earliest_start_to_the_latest_end_of_complete_segments():
    docs = [segment(1, 10.0, 10.5), segment(2, 9.5, None, parent_id=sid(77)), segment(3, 11, 12.25)]
    assert one_trace(*docs).duration == 12.25 - 9.5
    assert one_trace(segment(1, 10.0, None)).duration == 0.0


def test_parse_returns_traces_in_the_order_their_first_document_arrived():
    docs = [segment(1, trace=trace_id(n)) for n in (5, 2, 9)] + [segment(2, trace=trace_id(2))]
    assert parse_docs(*docs).ids == [trace_id(5), trace_id(2), trace_id(9)]


# -- botocore ----------------------------------------------------------------------------------


def test_parse_output_is_a_valid_batch_get_traces_response(small_workload):
    traces = xrfast.parse(small_workload)
    assert_valid_batch_get_traces([t.to_dict() for t in traces])
    assert_valid_batch_get_traces(traces.to_dict()["Traces"])
