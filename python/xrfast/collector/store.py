"""The collector's durable store: SQLite in WAL mode, in one file of the data directory.

Three kinds of rows (docs/collector.md, "Store"):

* ``ingest`` — the ingest log: every accepted batch as it arrived (a ``PutTraceSegments`` body,
  or the documents of drained UDP datagrams), committed before the batch is acknowledged.
* ``traces`` — one row per trace, written when the assembler emits it and rewritten (merged)
  when more of its documents arrive later: the query columns (trace-id time, start, end,
  segment end times, flags, HTTP status), the ``TraceSummary`` and the trace's documents
  (zlib-compressed).
* ``meta`` (the ingest log's watermark, the sampling rules) and ``groups``.

One writer (the collector's writer thread) uses :attr:`Store.writer`; readers get a connection
per thread from :meth:`Store.reader`, which WAL lets read while the writer writes.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

import xrfast
from xrfast import TraceSet

__all__ = ["Store", "TraceRow"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS ingest (
    seq INTEGER PRIMARY KEY,
    received REAL NOT NULL,
    kind TEXT NOT NULL,          -- 'documents' (data + lengths) or 'put_trace_segments' (a body)
    data BLOB NOT NULL,
    lengths BLOB,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS traces (
    id TEXT PRIMARY KEY,
    id_time INTEGER NOT NULL,    -- the epoch second in the trace id
    start REAL NOT NULL,
    end REAL NOT NULL,
    duration REAL,
    response_time REAL,
    seg_end_min REAL NOT NULL,
    seg_end_max REAL NOT NULL,
    seg_ends BLOB NOT NULL,      -- float64 end times of the real segments
    has_fault INTEGER NOT NULL,
    has_error INTEGER NOT NULL,
    has_throttle INTEGER NOT NULL,
    is_partial INTEGER NOT NULL,
    http_status INTEGER,
    segments INTEGER NOT NULL,
    summary BLOB NOT NULL,       -- zlib(TraceSummary JSON)
    documents BLOB NOT NULL,     -- zlib(documents back to back)
    lengths BLOB NOT NULL,       -- little-endian uint32 length of each document
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_by_id_time ON traces (id_time, id);
CREATE INDEX IF NOT EXISTS traces_by_start ON traces (start, id);
CREATE INDEX IF NOT EXISTS traces_by_end ON traces (seg_end_max, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB);
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    filter_expression TEXT,
    insights_enabled INTEGER NOT NULL DEFAULT 0,
    notifications_enabled INTEGER NOT NULL DEFAULT 0,
    modified REAL NOT NULL
);
"""

#: The sort key (and window column) of each ``TimeRangeType``.
KEYS = {"TraceId": "id_time", "Event": "start", "Service": "seg_end_max"}

RangeType = Literal["TraceId", "Event", "Service"]


def pack_documents(documents: Sequence[bytes]) -> tuple[bytes, bytes]:
    """Documents → (their bytes back to back, their lengths as little-endian uint32)."""
    lengths = np.fromiter((len(d) for d in documents), dtype="<u4", count=len(documents))
    return b"".join(documents), lengths.tobytes()


def unpack_documents(data: bytes, lengths: bytes) -> list[bytes]:
    """The inverse of :func:`pack_documents`."""
    ends = np.cumsum(np.frombuffer(lengths, dtype="<u4"), dtype=np.int64).tolist()
    out = []
    start = 0
    for end in ends:
        out.append(data[start:end])
        start = end
    return out


@dataclass
class TraceRow:
    """A stored trace as queries see it."""

    id: str
    key: float
    summary: bytes
    seg_ends: bytes
    documents: bytes
    lengths: bytes

    def summary_dict(self) -> dict[str, Any]:
        """The ``TraceSummary``."""
        result: dict[str, Any] = orjson.loads(zlib.decompress(self.summary))
        return result

    def document_list(self) -> list[bytes]:
        """The trace's documents."""
        return unpack_documents(zlib.decompress(self.documents), self.lengths)


class Store:
    """The SQLite store in ``data_dir/collector.sqlite3``.

    Arguments:
        data_dir: the directory (created if missing).
        sync: SQLite ``synchronous`` level: ``"normal"`` (a committed transaction survives the
            process being killed) or ``"full"`` (it also survives a power loss).

    Raises:
        OSError: the directory cannot be created.
        sqlite3.Error: the database cannot be opened (e.g. it is not SQLite).
    """

    def __init__(self, data_dir: str | Path, *, sync: str = "normal") -> None:
        self.directory = Path(data_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "collector.sqlite3"
        self._sync = "FULL" if sync == "full" else "NORMAL"
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        #: The writer's connection: use it from one thread at a time.
        self.writer = self._connect()
        self.writer.executescript(SCHEMA)
        # The writer never checkpoints the WAL itself (it would stall every few MB of writes):
        # a thread of the store does, on its own connection (see `start_checkpoints`).
        self.writer.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpoints: threading.Thread | None = None
        self._closing = threading.Event()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._sync}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        return conn

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def start_checkpoints(self, interval: float = 1.0) -> None:
        """Starts the thread that copies the WAL into the database every ``interval`` seconds
        (a passive checkpoint: it never blocks the writer or the readers)."""

        def run() -> None:
            conn = self._connect()
            try:
                while not self._closing.wait(interval):
                    try:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.Error:  # busy: the next round does it
                        pass
            finally:
                conn.close()

        self._checkpoints = threading.Thread(target=run, name="xrfast-checkpoint", daemon=True)
        self._checkpoints.start()

    def close(self) -> None:
        """Closes every connection (checkpointing the WAL into the database file)."""
        self._closing.set()
        if self._checkpoints is not None:
            self._checkpoints.join()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        try:
            self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            pass
        self.writer.close()

    # --- the writer's side (call from the writer thread, inside a transaction) ---------------

    def append_documents(self, documents: Sequence[bytes], now: float) -> int:
        """Logs documents (drained datagrams); returns the batch's sequence number."""
        data, lengths = pack_documents(documents)
        cursor = self.writer.execute(
            "INSERT INTO ingest (received, kind, data, lengths, count) VALUES (?, ?, ?, ?, ?)",
            (now, "documents", data, lengths, len(documents)),
        )
        return int(cursor.lastrowid or 0)

    def append_body(self, body: bytes, count: int, now: float) -> int:
        """Logs a ``PutTraceSegments`` request body; returns its sequence number."""
        cursor = self.writer.execute(
            "INSERT INTO ingest (received, kind, data, lengths, count) VALUES (?, ?, ?, NULL, ?)",
            (now, "put_trace_segments", body, count),
        )
        return int(cursor.lastrowid or 0)

    def ingest_after(self, seq: int) -> Iterator[tuple[int, str, bytes, bytes | None]]:
        """The logged batches after ``seq``, oldest first: ``(seq, kind, data, lengths)``."""
        cursor = self.writer.execute(
            "SELECT seq, kind, data, lengths FROM ingest WHERE seq > ? ORDER BY seq", (seq,)
        )
        yield from cursor

    def get_meta(self, key: str, *, reader: bool = False) -> bytes | None:
        """A value of the ``meta`` table, as bytes (text values encoded as UTF-8); with
        ``reader``, through this thread's read connection (for threads other than the
        writer)."""
        conn = self.reader() if reader else self.writer
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value = row[0]
        return value.encode() if isinstance(value, str) else bytes(value)

    def set_meta(self, key: str, value: bytes | str) -> None:
        """Sets a value of the ``meta`` table."""
        self.writer.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def upsert_traces(self, traces: TraceSet, now: float) -> int:
        """Writes emitted traces; a trace already stored (or emitted twice in ``traces``) is
        merged: its documents and the new ones, duplicates removed, are assembled again.

        Returns:
            The number of rows written.
        """
        if not len(traces):
            return 0
        by_id: dict[str, list[int]] = {}
        for i, trace_id in enumerate(traces.ids):
            by_id.setdefault(trace_id, []).append(i)
        stored: dict[str, list[bytes]] = {}
        ids = list(by_id)
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            marks = ",".join("?" * len(part))
            for row in self.writer.execute(
                f"SELECT id, documents, lengths FROM traces WHERE id IN ({marks})", part
            ):
                stored[row[0]] = unpack_documents(zlib.decompress(row[1]), row[2])
        simple = [i[0] for tid, i in by_id.items() if len(i) == 1 and tid not in stored]
        merge = [tid for tid, i in by_id.items() if len(i) > 1 or tid in stored]
        written = 0
        if simple:
            written += self._write(traces, simple, now)
        if merge:
            documents: list[bytes] = []
            for tid in merge:
                seen = dict.fromkeys(stored.get(tid, []))
                for i in by_id[tid]:
                    seen.update(dict.fromkeys(traces[i].documents()))
                documents.extend(seen)
            merged = xrfast.parse(documents, format="document", on_error="skip")
            written += self._write(merged, list(range(len(merged))), now)
        return written

    def _write(self, traces: TraceSet, indexes: list[int], now: float) -> int:
        # Summaries as JSON bytes made in Rust, one per trace, and their query columns as numpy
        # arrays: no Python dict per summary (dicts cost a parse and the garbage collector).
        summaries = traces.summaries_json_list()
        c = traces.summary_columns()
        starts, durations, response_times = c["start"], c["duration"], c["response_time"]
        statuses = c["http_status"]
        flags = [c[k] for k in ("has_fault", "has_error", "has_throttle", "is_partial")]
        columns = traces.columns()
        rows_of = columns["trace"]
        bounds = np.searchsorted(rows_of, np.arange(len(traces) + 1))
        kinds, ends = columns["kind"], columns["end"]
        values = []
        for i in indexes:
            trace = traces[i]
            lo, hi = bounds[i], bounds[i + 1]
            seg = ends[lo:hi][(kinds[lo:hi] == 0) & ~np.isnan(ends[lo:hi])]
            id_time = int(trace.id[2:10], 16)
            start = float(id_time if math.isnan(starts[i]) else starts[i])
            duration = None if math.isnan(durations[i]) else float(durations[i])
            end = start + (duration or 0.0)
            data, lengths = pack_documents(trace.documents())
            values.append(
                (
                    trace.id,
                    id_time,
                    start,
                    end,
                    duration,
                    None if math.isnan(response_times[i]) else float(response_times[i]),
                    float(seg.min()) if seg.size else end,
                    float(seg.max()) if seg.size else end,
                    seg.astype("<f8").tobytes(),
                    *(int(flag[i]) for flag in flags),
                    int(statuses[i]) or None,
                    len(trace),
                    zlib.compress(summaries[i], 1),
                    zlib.compress(data, 1),
                    lengths,
                    now,
                )
            )
        self.writer.executemany(
            "INSERT OR REPLACE INTO traces (id, id_time, start, end, duration, response_time, "
            "seg_end_min, seg_end_max, seg_ends, has_fault, has_error, has_throttle, is_partial, "
            "http_status, segments, summary, documents, lengths, updated) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        return len(values)

    def purge(self, *, now: float, retention: float, ingest_log: float, watermark: int) -> int:
        """Deletes traces older than ``retention`` (by start) and summarised ingest batches
        older than ``ingest_log``; returns the number of traces deleted."""
        deleted = self.writer.execute(
            "DELETE FROM traces WHERE start < ?", (now - retention,)
        ).rowcount
        self.writer.execute(
            "DELETE FROM ingest WHERE seq <= ? AND received < ?", (watermark, now - ingest_log)
        )
        return int(deleted)

    # --- the readers' side ---------------------------------------------------------------------

    def scan(
        self,
        range_type: RangeType,
        lo: float,
        hi: float,
        *,
        after: tuple[float, str] | None,
        limit: int,
        with_documents: bool,
    ) -> list[TraceRow]:
        """Traces in the window, most recent first by the range type's key, after ``after``
        (a ``(key, id)`` cursor)."""
        key = KEYS[range_type]
        if range_type == "Event":
            where, args = "start < ? AND end >= ?", [hi, lo]
        else:
            where, args = f"{key} >= ? AND {key} < ?", [lo, hi]
            if range_type == "Service":
                where += " AND seg_end_min < ?"
                args.append(hi)
        if after is not None:
            where += f" AND ({key} < ? OR ({key} = ? AND id < ?))"
            args += [after[0], after[0], after[1]]
        columns = "documents, lengths" if with_documents else "NULL, NULL"
        sql = (
            f"SELECT id, {key}, summary, seg_ends, {columns} FROM traces WHERE {where} "
            f"ORDER BY {key} DESC, id DESC LIMIT ?"
        )
        return [TraceRow(*row) for row in self.reader().execute(sql, [*args, limit])]

    def documents_of(self, ids: Sequence[str]) -> dict[str, list[bytes]]:
        """The documents of the stored traces among ``ids``."""
        out: dict[str, list[bytes]] = {}
        conn = self.reader()
        for chunk in range(0, len(ids), 500):
            part = list(ids[chunk : chunk + 500])
            marks = ",".join("?" * len(part))
            for tid, data, lengths in conn.execute(
                f"SELECT id, documents, lengths FROM traces WHERE id IN ({marks})", part
            ):
                out[tid] = unpack_documents(zlib.decompress(data), lengths)
        return out

    def window_documents(self, lo: float, hi: float, limit: int) -> tuple[list[bytes], int]:
        """The documents of the traces that start in ``[lo, hi)`` (at most ``limit`` + 1 traces
        are read), and how many traces that was."""
        documents: list[bytes] = []
        count = 0
        for data, lengths in self.reader().execute(
            "SELECT documents, lengths FROM traces WHERE start >= ? AND start < ? LIMIT ?",
            (lo, hi, limit + 1),
        ):
            documents.extend(unpack_documents(zlib.decompress(data), lengths))
            count += 1
        return documents, count

    def counts(self) -> dict[str, int]:
        """Rows per table and the database size in bytes (file plus WAL)."""
        conn = self.reader()
        traces = conn.execute("SELECT count(*) FROM traces").fetchone()[0]
        batches = conn.execute("SELECT count(*) FROM ingest").fetchone()[0]
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())
        return {"traces": int(traces), "ingest_batches": int(batches), "bytes": int(size)}


def wall_clock() -> float:
    """The clock the store stamps rows with."""
    return time.time()
