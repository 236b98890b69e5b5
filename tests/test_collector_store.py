"""The collector's store: a trace stored in pieces (late segments, checkpoints, replays) reads
back as if it had been assembled at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import xrfast
from xrfast.bench import workload
from xrfast.collector.store import Store, pack_documents, unpack_documents


def test_trace_documents_assemble_back_into_the_same_trace() -> None:
    docs = workload.generate(workload.WorkloadConfig(traces=6, seed=4, vanish_rate=0.5))
    for trace in xrfast.parse(docs):
        again = xrfast.parse(trace.documents(), format="document")
        assert len(again) == 1
        assert again[0].summary() == trace.summary()
        assert again[0].to_json() == trace.to_json()


def test_documents_pack_and_unpack() -> None:
    docs = [b"{}", b"", b'{"a": "\\n"}', "é".encode()]
    assert unpack_documents(*pack_documents(docs)) == docs


def test_a_trace_stored_in_pieces_is_merged(tmp_path: Path) -> None:
    docs = workload.generate(workload.WorkloadConfig(traces=4, seed=8, in_progress_rate=0.5))
    whole = {t.id: t for t in xrfast.parse(docs)}
    store = Store(tmp_path)
    half = len(docs) // 2
    for part in (docs[:half], docs[half:], docs[half // 2 : half]):  # the last one: a replay
        store.writer.execute("BEGIN")
        store.upsert_traces(xrfast.parse(part, on_error="skip"), time.time())
        store.writer.execute("COMMIT")
    rows = store.scan("Event", 0, 4e9, after=None, limit=100, with_documents=True)
    assert {row.id for row in rows} == set(whole)
    for row in rows:
        expected = whole[row.id].summary()
        assert row.summary_dict() == json.loads(json.dumps(expected))
    store.close()
