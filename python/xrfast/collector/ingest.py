"""The ingest pipeline: UDP batches and ``PutTraceSegments`` bodies → the ingest log → the
assembler → trace rows, all written by one writer thread.

* The **pump** thread drains the Rust :class:`~xrfast._core.DaemonSocket` (one call per batch,
  the GIL released while it waits) and hands each batch to the writer.
* The **writer** thread owns the SQLite writer connection and the
  :class:`~xrfast.TraceAssembler`. It takes every job waiting, runs them in one transaction,
  commits, and only then feeds the documents to the assembler and answers the jobs (so an
  acknowledged batch is on disk). Between jobs it stores completed traces
  (:meth:`~xrfast.TraceAssembler.pop_complete`), checkpoints open ones, and purges old data.
* The **watermark** is the last ingest batch whose documents are all in trace rows; on start,
  the batches after it are replayed, so what was acknowledged but not yet summarised when the
  process died is summarised then.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import orjson

import xrfast
from xrfast import TraceAssembler, TraceSet
from xrfast._core import DaemonSocket, UnprocessedTraceSegment
from xrfast.collector.settings import CollectorSettings
from xrfast.collector.store import Store, unpack_documents

__all__ = ["Pipeline"]

log = logging.getLogger("xrfast.collector")

WATERMARK = "watermark"

#: Jobs waiting for the writer past which PutTraceSegments answers ThrottledException and the
#: pump stops draining (the Rust queue then fills and counts drops).
MAX_PENDING_JOBS = 256

#: A drained UDP batch smaller than this waits ``BATCH_LINGER`` seconds for more documents, so
#: the writer gets a few large batches per second rather than one per datagram.
BATCH_DOCUMENTS = 2048
BATCH_LINGER = 0.005


@dataclass
class _Job:
    """Work for the writer: ``write`` runs inside the transaction, ``after`` once it is
    committed; the future gets ``after``'s result."""

    write: Callable[[], Any]
    after: Callable[[Any], Any] | None = None
    future: Future[Any] = field(default_factory=Future)


@dataclass
class IngestCounters:
    """What the pipeline did since it started (the ``/metrics`` ingest counters)."""

    udp_batches: int = 0
    put_requests: int = 0
    documents_logged: int = 0
    traces_written: int = 0
    traces_purged: int = 0
    checkpoints: int = 0
    replayed_batches: int = 0
    write_errors: int = 0


class Pipeline:
    """UDP socket, writer thread, assembler and store of one collector.

    Arguments:
        settings: the collector's settings.
        store: the opened store.
        udp: the bound socket, or ``None`` for no UDP ingest.
        on_traces: called (in the writer thread) with every set of traces written, e.g. to
            update the service-graph metrics.
    """

    def __init__(
        self,
        settings: CollectorSettings,
        store: Store,
        udp: DaemonSocket | None,
        *,
        on_traces: Callable[[TraceSet], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.udp = udp
        self.on_traces = on_traces
        self.assembler = TraceAssembler(
            idle_timeout=settings.trace_idle_timeout,
            incomplete_timeout=settings.trace_incomplete_timeout,
            max_open_traces=settings.max_open_traces,
            max_document_bytes=settings.max_document_bytes,
        )
        self.counters = IngestCounters()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._stop = threading.Event()
        self._watermark = 0
        self._last_fed = 0
        self._writer = threading.Thread(target=self._write_loop, name="xrfast-writer")
        self._pump = threading.Thread(target=self._pump_loop, name="xrfast-pump")

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Replays the ingest log after the watermark, then starts the threads."""
        self._replay()
        self._writer.start()
        if self.udp is not None:
            self._pump.start()

    def stop(self) -> None:
        """Stops the UDP reader, writes what is queued, stores every open trace and stops."""
        if self.udp is not None and not self.udp.closed:
            self.udp.close()
        if self._pump.is_alive():
            self._stop.set()
            self._pump.join()
        self._stop.set()
        if self._writer.is_alive():
            self._jobs.put(None)
            self._writer.join()

    # --- jobs ----------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs."""
        return self._writer.is_alive()

    @property
    def pending(self) -> int:
        """Jobs waiting for the writer."""
        return self._jobs.qsize()

    def submit(
        self, write: Callable[[], Any], after: Callable[[Any], Any] | None = None
    ) -> Future[Any]:
        """Queues a job for the writer thread.

        Raises:
            RuntimeError: the pipeline is stopping.
        """
        if self._stop.is_set() or not self._writer.is_alive():
            raise RuntimeError("the collector is stopping")
        job = _Job(write, after)
        self._jobs.put(job)
        return job.future

    def put_trace_segments(self, body: bytes, count: int) -> Future[list[UnprocessedTraceSegment]]:
        """Logs a validated ``PutTraceSegments`` body, then assembles it.

        Returns:
            A future of the rejected documents, set once the body is committed.
        """
        now = time.time()

        def write() -> int:
            return self.store.append_body(body, count, now)

        def after(seq: int) -> list[UnprocessedTraceSegment]:
            self.counters.put_requests += 1
            self.counters.documents_logged += count
            return self._feed(seq, body, "put_trace_segments")

        return self.submit(write, after)

    # --- the threads -----------------------------------------------------------------------------

    def _pump_loop(self) -> None:
        assert self.udp is not None
        _lower_priority()
        while not self._stop.is_set():
            if self._jobs.qsize() >= MAX_PENDING_JOBS:
                time.sleep(0.01)  # back-pressure: the Rust queue fills and counts drops
                continue
            documents = self.udp.drain(0.1)
            if documents:
                if len(documents) < BATCH_DOCUMENTS:
                    # Let a batch build up: one job per few milliseconds, not per datagram.
                    time.sleep(BATCH_LINGER)
                    documents += self.udp.drain(0)
                self._submit_datagrams(documents)
        for documents in iter(lambda: self.udp.drain(0) if self.udp else [], []):
            self._submit_datagrams(documents)

    def _submit_datagrams(self, documents: list[bytes]) -> None:
        now = time.time()

        def write() -> int:
            return self.store.append_documents(documents, now)

        def after(seq: int) -> None:
            self.counters.udp_batches += 1
            self.counters.documents_logged += len(documents)
            self._feed(seq, documents, "documents")

        job = _Job(write, after)
        self._jobs.put(job)

    def _feed(self, seq: int, data: Any, kind: str) -> list[UnprocessedTraceSegment]:
        self._last_fed = max(self._last_fed, seq)
        if kind == "documents":
            self.assembler.add(data, format="document", on_error="skip")
            return []
        try:
            return self.assembler.add(data, format="put_trace_segments", on_error="collect")
        except xrfast.InputFormatError:  # checked before it was logged; replay is lenient
            return []

    def _write_loop(self) -> None:
        _lower_priority()
        settings = self.settings
        next_flush = time.monotonic() + settings.flush_seconds
        next_checkpoint = time.monotonic() + settings.checkpoint_seconds
        next_purge = time.monotonic()
        running = True
        while running:
            timeout = max(0.0, next_flush - time.monotonic())
            jobs: list[_Job] = []
            try:
                first = self._jobs.get(timeout=timeout)
                if first is None:
                    running = False
                else:
                    jobs.append(first)
                while len(jobs) < 512:
                    more = self._jobs.get_nowait()
                    if more is None:
                        running = False
                        break
                    jobs.append(more)
            except queue.Empty:
                pass
            if jobs:
                self._run_jobs(jobs)
            now = time.monotonic()
            if now >= next_flush or not running:
                next_flush = now + settings.flush_seconds
                self._store_traces(self.assembler.pop_complete(), advance=True)
            if now >= next_checkpoint or not running:
                next_checkpoint = now + settings.checkpoint_seconds
                if self.assembler.open_traces:
                    self.counters.checkpoints += 1
                    self._store_traces(self.assembler.flush(), advance=True)
            if now >= next_purge:
                next_purge = now + settings.purge_seconds
                self._purge()
        # Anything submitted while stopping.
        leftover = []
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                leftover.append(job)
        if leftover:
            self._run_jobs(leftover)
        self._store_traces(self.assembler.flush(), advance=True)

    def _run_jobs(self, jobs: list[_Job]) -> None:
        results: list[tuple[_Job, Any, BaseException | None]] = []
        conn = self.store.writer
        try:
            conn.execute("BEGIN")
            for job in jobs:
                try:
                    results.append((job, job.write(), None))
                except Exception as e:  # noqa: BLE001 - a bad job fails alone; the rest commit
                    self.counters.write_errors += 1
                    results.append((job, None, e))
            conn.execute("COMMIT")
        except Exception as e:
            log.exception("ingest transaction failed")
            self.counters.write_errors += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in jobs:
                job.future.set_exception(e)
            return
        for job, value, error in results:
            if error is not None:
                job.future.set_exception(error)
                continue
            try:
                job.future.set_result(job.after(value) if job.after else value)
            except Exception as e:
                log.exception("ingest job failed after commit")
                job.future.set_exception(e)

    def _store_traces(self, traces: TraceSet, *, advance: bool) -> None:
        fed = self._last_fed
        try:
            if len(traces):
                with self._transaction():
                    self.counters.traces_written += self.store.upsert_traces(traces, time.time())
                if self.on_traces is not None:
                    self.on_traces(traces)
            if advance and self.assembler.open_traces == 0 and fed > self._watermark:
                with self._transaction():
                    self.store.set_meta(WATERMARK, str(fed))
                self._watermark = fed
        except Exception:
            self.counters.write_errors += 1
            log.exception("storing %d traces failed", len(traces))

    def _purge(self) -> None:
        s = self.settings
        try:
            with self._transaction():
                self.counters.traces_purged += self.store.purge(
                    now=time.time(),
                    retention=s.retention_seconds,
                    ingest_log=s.ingest_log_seconds,
                    watermark=self._watermark,
                )
        except Exception:
            self.counters.write_errors += 1
            log.exception("retention purge failed")

    def _transaction(self) -> _Transaction:
        return _Transaction(self.store)

    def _replay(self) -> None:
        """Feeds the batches after the watermark to the assembler and stores every trace."""
        raw = self.store.get_meta(WATERMARK)
        self._watermark = int(raw) if raw else 0
        replayed = 0
        for seq, kind, data, lengths in self.store.ingest_after(self._watermark):
            if kind == "documents":
                self._feed(seq, unpack_documents(data, lengths or b""), kind)
            else:
                self._feed(seq, bytes(data), kind)
            replayed += 1
            if replayed % 256 == 0:
                self._store_traces(self.assembler.flush(), advance=False)
        if replayed:
            self.counters.replayed_batches = replayed
            self._store_traces(self.assembler.flush(), advance=True)
            log.info("replayed %d ingest batches after the watermark", replayed)


def _lower_priority() -> None:
    """Makes the calling thread yield the CPU to the UDP reader when both want it.

    On a busy machine the reader must run when datagrams arrive (the kernel buffer is small and
    drops silently), while the writer can catch up from the bounded queue; on Linux a thread's
    nice value is its own, so the writer (and the pump) run at nice +10. Elsewhere, nothing.
    """
    if sys.platform.startswith("linux") and hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:  # not allowed here: keep the priority
            pass


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.conn = store.writer

    def __enter__(self) -> None:
        self.conn.execute("BEGIN")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def kernel_drops(address: tuple[str, int]) -> int | None:
    """Datagrams the kernel dropped for the UDP socket bound to ``address`` because its receive
    buffer was full (the ``drops`` column of ``/proc/net/udp``; IPv4 on Linux only).

    These never reach the reader, so they are not in its counters: they are the gap between
    what senders sent and what was received.

    Returns:
        The count, or ``None`` where the kernel does not say.
    """
    host, port = address
    try:
        packed = socket.inet_aton(host)
        with open("/proc/net/udp") as f:
            lines = f.readlines()[1:]
    except OSError:
        return None
    local = f"{int.from_bytes(packed, 'little'):08X}:{port:04X}"
    drops = [int(line.split()[-1]) for line in lines if line.split()[1] == local]
    return sum(drops) if drops else None


def documents_of_body(body: bytes) -> int:
    """Validates a ``PutTraceSegments`` body and counts its documents.

    Raises:
        ValueError: the body is not JSON.
        TypeError: it is not an object, or ``TraceSegmentDocuments`` is not a list of strings.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ValueError(f"the request body is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise TypeError("the request body must be a JSON object")
    documents = value.get("TraceSegmentDocuments")
    if not isinstance(documents, list):
        raise TypeError("TraceSegmentDocuments is required and must be a list of strings")
    if not all(isinstance(d, str) for d in documents):
        raise TypeError("every element of TraceSegmentDocuments must be a string")
    return len(documents)
