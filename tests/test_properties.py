"""Properties that hold for every input, checked with hypothesis against simple oracles.

* Assembly does not depend on arrival order.
* The engine computes what the pure-Python reference (`xrfast.bench.reference`, docs/assembly.md
  written out plainly) computes: on generated SDK-like workloads, and on random trace shapes that
  stress the rules (same ids again, orphans, nesting, downstream segments, member order).
* No input crashes the engine, and every rejected document is reported exactly once.
* The engine's own output reads back as the same traces.

Examples are derived from each test (the "ci" profile in conftest.py), so runs are reproducible.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from xray_documents import OTHER_TRACE_ID, TRACE_ID, dumps, sid

import xrfast
from xrfast.bench import reference, workload

FORMATS = (
    "auto",
    "document",
    "datagram",
    "ndjson",
    "array",
    "put_trace_segments",
    "batch_get_traces",
)


def engine_digest(traces: xrfast.TraceSet) -> dict[str, Any]:
    return reference.digest(traces.to_dict())


def assert_engine_matches_reference(docs: list[bytes]) -> None:
    """Same traces, structure, duration, root and partial flag, and the same documents member
    for member, in the same order."""
    traces = xrfast.parse(docs, format="document", on_error="collect")
    assert traces.errors == []
    expected = reference.assemble(docs)
    assert engine_digest(traces) == reference.digest({"Traces": expected})
    by_id = {t.id: t for t in traces}
    for trace in expected:
        mine = by_id[trace["Id"]]
        assert reference.trace_info(trace) == {"root": mine.root_id, "partial": mine.is_partial}
        assert mine.duration == trace["Duration"]
        # json.dumps keeps member order, which dict equality would not check.
        assert [json.dumps(s) for s in mine.segments] == [
            json.dumps(s["Document"]) for s in trace["Segments"]
        ]


# -- arrival order -----------------------------------------------------------------------------

ONE_TRACE = st.builds(
    workload.WorkloadConfig,
    traces=st.just(1),
    concurrency=st.just(1),
    seed=st.integers(0, 2**32 - 1),
    in_progress_rate=st.sampled_from([0.0, 0.5, 1.0]),
    duplicate_rate=st.sampled_from([0.0, 0.5]),
    stream_threshold=st.integers(0, 3),
    fanout=st.integers(0, 2),
    depth=st.integers(0, 2),
    payload_bytes=st.just((0, 32)),
)


@settings(max_examples=40)
@given(config=ONE_TRACE, data=st.data())
def test_any_arrival_order_of_a_traces_documents_assembles_the_same_trace(config, data):
    docs = workload.generate(config)
    shuffled = data.draw(st.permutations(docs), label="arrival order")
    expected = [t.to_dict() for t in xrfast.parse(docs, format="document")]
    assert [t.to_dict() for t in xrfast.parse(shuffled, format="document")] == expected

    # Streamed one document at a time, too.
    assembler = xrfast.TraceAssembler()
    for at, doc in enumerate(shuffled):
        assembler.add(doc, now=float(at), format="document")
    assert [t.to_dict() for t in assembler.flush()] == expected


# -- the reference as oracle -------------------------------------------------------------------


@st.composite
def workloads(draw: st.DrawFn) -> workload.WorkloadConfig:
    # Outcome rates drawn as shares of at most 1 in total, as the generator requires.
    fault, error, throttle = draw(
        st.lists(st.sampled_from([0.0, 0.1, 0.3]), min_size=3, max_size=3), label="outcome rates"
    )
    return workload.WorkloadConfig(
        traces=draw(st.integers(1, 6)),
        concurrency=draw(st.integers(1, 3)),
        seed=draw(st.integers(0, 2**32 - 1)),
        fault_rate=fault,
        error_rate=error,
        throttle_rate=throttle,
        vanish_rate=draw(st.sampled_from([0.0, 0.5])),
        in_progress_rate=draw(st.sampled_from([0.0, 0.3, 1.0])),
        duplicate_rate=draw(st.sampled_from([0.0, 0.3])),
        stream_threshold=draw(st.integers(0, 4)),
        fanout=draw(st.integers(0, 3)),
        depth=draw(st.integers(0, 3)),
        payload_bytes=(0, 64),
    )


@settings(max_examples=30)
@given(config=workloads())
def test_the_engine_matches_the_reference_on_generated_workloads(config):
    assert_engine_matches_reference(workload.generate(config))


# Random trace shapes: a few ids shared by every document, so that ids come back (same-id table),
# parents are missing or arrive later (orphans, adoption), segments call subsegments (downstream),
# and start times tie (ordering by id). Everything generated is valid, so the engine and the
# reference must agree exactly.
IDS = st.integers(1, 8)
NAMES = st.sampled_from(
    ["api", "DynamoDB", "dynamodb", "SQS", "S3", "Lambda", "SNS", "api.example.com", "café 名前"]
)
AWS = st.sampled_from(
    [
        None,
        {"table_name": "t"},
        {"queue_url": "q"},
        {"function_name": "f"},
        {"bucket_name": "b"},
        {},
    ]
)
STARTS = st.sampled_from([10.0, 10.5, 11.0, 11.25])


@st.composite
def entity(draw: st.DrawFn, *, top: str | None, depth: int) -> dict[str, Any]:
    """One object: `top` is "segment", "subsegment" (independent) or None (nested)."""
    members: dict[str, Any] = {"id": sid(draw(IDS)), "name": draw(NAMES)}
    start = draw(STARTS)
    members["start_time"] = start
    if draw(st.booleans()):
        members["end_time"] = start + draw(st.sampled_from([0.0, 0.25, 2.0]))
    else:
        members["in_progress"] = True
    if top is not None:
        members["trace_id"] = draw(st.sampled_from([TRACE_ID, OTHER_TRACE_ID]))
    if top == "subsegment":
        members["type"] = "subsegment"
    if top == "subsegment" or (top == "segment" and draw(st.booleans())):
        members["parent_id"] = sid(draw(IDS))
    if top != "segment":
        namespace = draw(st.sampled_from([None, "aws", "remote", "local"]))
        if namespace is not None:
            members["namespace"] = namespace
        aws = draw(AWS)
        if aws is not None:
            members["aws"] = aws
    if draw(st.booleans()):
        members["http"] = {"request": {"traced": draw(st.booleans())}}
    for flag in ("error", "throttle", "fault"):
        if draw(st.integers(0, 3)) == 0:
            members[flag] = draw(st.booleans())
    if depth < 3 and draw(st.integers(0, 2)) == 0:
        members["subsegments"] = draw(
            st.lists(entity(top=None, depth=depth + 1), max_size=3), label="nested"
        )
    # Members in any order: rebuilt documents must keep it, wherever `subsegments` sits.
    order = draw(st.permutations(list(members)), label="member order")
    return {key: members[key] for key in order}


DOCUMENTS = st.one_of(
    entity(top="segment", depth=0),
    entity(top="subsegment", depth=0),
    st.lists(entity(top="subsegment", depth=0), min_size=1, max_size=3),  # an array document
)


# Rebuilt documents are spliced from the received text, so the layout of that text must not matter.
LAYOUTS = {
    "compact": dumps,
    "spaced": json.dumps,
    "indented": lambda doc: json.dumps(doc, indent=2, ensure_ascii=False),
}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(DOCUMENTS, min_size=1, max_size=10), layout=st.sampled_from(sorted(LAYOUTS)))
def test_the_engine_matches_the_reference_on_random_trace_shapes(docs, layout):
    assert_engine_matches_reference([LAYOUTS[layout](doc).encode() for doc in docs])


# -- hostile input -----------------------------------------------------------------------------


def assert_every_document_is_counted_once(source: Any, format: str) -> None:
    """Parses `source` both ways; every document is accepted, rejected with one error, or
    dropped, and the two entry points report the same rejections."""
    assembler = xrfast.TraceAssembler()
    try:
        errors = assembler.add(source, now=0.0, format=format, on_error="collect")
    except xrfast.InputFormatError:
        # Only an envelope can be wrong as a whole: one JSON value, or a gzip stream.
        gzipped = isinstance(source, bytes) and source.startswith(b"\x1f\x8b")
        assert gzipped or format in ("auto", "array", "put_trace_segments", "batch_get_traces")
        return
    stats = assembler.stats
    assert len(errors) == stats["documents_rejected"]
    assert stats["documents_received"] == (
        stats["documents_accepted"] + stats["documents_rejected"] + stats["documents_dropped"]
    )
    assert [
        e.to_dict() for e in xrfast.parse(source, format=format, on_error="collect").errors
    ] == [e.to_dict() for e in errors]
    for error in errors:
        assert error.message.startswith(
            f"Invalid {'sub' if 'subsegment.' in error.message else ''}"
        )
        assert f"ErrorCode: {error.error_code}: " in error.message


@settings(max_examples=300)
@given(data=st.binary(max_size=300), format=st.sampled_from(FORMATS))
def test_arbitrary_bytes_never_crash_and_every_rejection_is_counted(data, format):
    assert_every_document_is_counted_once(data, format)


# JSON values shaped like segment documents: the members X-Ray reads, holding anything.
KEYS = st.sampled_from(
    [
        "id",
        "name",
        "trace_id",
        "start_time",
        "end_time",
        "in_progress",
        "parent_id",
        "type",
        "namespace",
        "subsegments",
        "http",
        "request",
        "traced",
        "aws",
        "table_name",
        "error",
        "fault",
        "cause",
        "annotations",
        "metadata",
        "format",
        "version",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats()  # NaN and infinities too: json.dumps writes them as bare words
    | st.sampled_from(
        [sid(1), sid(2), TRACE_ID, "1-bad", "subsegment", "aws", "remote", "json", ""]
    )
    | st.text(max_size=8)
)
JSONISH = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=8),
    max_leaves=25,
)


@settings(max_examples=200)
@given(values=st.lists(JSONISH, min_size=1, max_size=5))
def test_arbitrary_json_never_crashes_and_each_document_gets_at_most_one_error(values):
    texts = [json.dumps(value) for value in values]
    assert_every_document_is_counted_once(texts, "document")
    traces = xrfast.parse(texts, format="document", on_error="collect")
    for index, value in enumerate(values):
        if not isinstance(value, list):  # an array document is reported per element
            assert sum(e.index == index for e in traces.errors) <= 1
    # The same values as NDJSON lines, and wrapped in each API envelope.
    ndjson = "".join(json.dumps(value) + "\n" for value in values)
    assert_every_document_is_counted_once(ndjson, "ndjson")
    assert_every_document_is_counted_once(dumps({"TraceSegmentDocuments": texts}), "auto")
    assert_every_document_is_counted_once(dumps(values), "array")


# -- round trip --------------------------------------------------------------------------------


@settings(max_examples=25)
@given(config=workloads())
def test_batch_get_traces_output_reads_back_as_the_same_traces(config):
    docs = workload.generate(config)
    first = xrfast.parse(docs, format="document")
    again = xrfast.parse(first.to_json())
    assert again.errors == []
    assert engine_digest(again) == engine_digest(first)
    # Closer still: the rebuilt documents are a fixed point of assembly. (Inferred segments come
    # back as real segments naming their subsegment, so no segment is inferred twice.)
    assert again.to_dict() == first.to_dict()
    assert [t.root_id for t in again] == [t.root_id for t in first]
