"""The collector's benchmark: UDP ingest rate on loopback, and GetTraceSummaries latency over a
large store (docs/collector.md, "Performance").

* **Ingest**: a sender in another process sends real segment documents (from the workload
  generator) as daemon datagrams, as fast as it can, to a running :class:`Collector`; the figure
  is documents ingested per second (received by the Rust reader, logged in SQLite and assembled),
  with every datagram accounted for: ``sent == received + dropped by the kernel`` and
  ``received == accepted + rejected + dropped``. The baseline, in the same run, is a Python
  ``recvfrom`` loop that only receives (no checks, no storage).
* **Queries**: ``GetTraceSummaries`` over plain HTTP against a store of ``--store-traces``
  traces (one million by default; built once and kept in ``~/.cache/xrfast``), median and p95
  of several calls per query; the baseline is answering the narrow window without a store
  (assembling and summarising that window's documents from scratch).

Run it alone with ``python -m xrfast.bench.collector [--quick]``; ``xrfast bench`` runs it too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

import xrfast
from xrfast.bench import workload

__all__ = ["run"]

HEADER = b'{"format":"json","version":1}\n'


def _documents(traces: int, seed: int) -> list[bytes]:
    config = workload.WorkloadConfig(
        traces=traces, seed=seed, in_progress_rate=0.0, payload_bytes=(0, 400)
    )
    return workload.generate(config)


#: The sender process: reads length-prefixed datagrams from a file, sends them ``count`` times
#: over (cycling) to ``host:port`` as fast as it can.
SENDER = """
import socket, struct, sys
host, port, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = open(path, "rb").read()
datagrams, at = [], 0
while at < len(data):
    (n,) = struct.unpack_from("<I", data, at)
    datagrams.append(data[at + 4 : at + 4 + n])
    at += 4 + n
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
sender.connect((host, port))  # a connected socket: no address to resolve per datagram
send, n = sender.send, len(datagrams)
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    send(datagrams[i % n])
"""


def _sender(address: tuple[str, int], datagrams: list[bytes], count: int) -> Any:
    """Starts the sender process (a separate interpreter: it does not share our cores' GIL)."""
    handle = tempfile.NamedTemporaryFile(suffix=".datagrams", delete=False)  # noqa: SIM115
    with handle:
        for datagram in datagrams:
            handle.write(struct.pack("<I", len(datagram)) + datagram)
    process = subprocess.Popen(
        [sys.executable, "-c", SENDER, address[0], str(address[1]), str(count), handle.name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    process.path = handle.name  # type: ignore[attr-defined]
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def _go(process: Any) -> float:
    """Lets the sender send; returns the start time."""
    started = time.perf_counter()
    process.stdin.write("go\n")
    process.stdin.flush()
    return started


def _join(process: Any) -> None:
    process.wait()
    process.stdin.close()
    process.stdout.close()
    os.unlink(process.path)


def _datagrams(count: int) -> list[bytes]:
    """Distinct datagrams: the workload's documents with their trace ids renumbered."""
    docs = _documents(400, seed=3)
    out = []
    round_ = 0
    while len(out) < count:
        for doc in docs:
            if b'"trace_id"' not in doc:
                continue
            tid = json.loads(doc)["trace_id"]
            new = f"{tid[:-6]}{round_:06x}".encode()
            out.append(HEADER + doc.replace(tid.encode(), new))
            if len(out) == count:
                break
        round_ += 1
    return out


def _settle(stats: Any, key: str = "received") -> dict[str, Any]:
    last = stats()
    while True:
        time.sleep(0.3)
        now = stats()
        if now[key] == last[key]:
            return dict(now)
        last = now


def ingest_collector(count: int, console: Console) -> dict[str, Any]:
    """One run of the collector's UDP ingest."""
    from xrfast.collector import Collector
    from xrfast.collector.ingest import kernel_drops

    datagrams = _datagrams(min(count, 50_000))
    with (
        tempfile.TemporaryDirectory() as directory,
        Collector(
            udp="127.0.0.1:0",
            http="127.0.0.1:0",
            data_dir=directory,
            trace_idle_timeout=1.0,
            retention_seconds=1e10,
            receive_buffer_bytes=32 << 20,
        ) as collector,
    ):
        assert collector.udp is not None and collector.pipeline is not None
        udp, assembler = collector.udp, collector.pipeline.assembler
        process = _sender(collector.udp_address, datagrams, count)
        started = _go(process)

        def progress() -> tuple[int, int]:
            return udp.stats["received"], assembler.stats["documents_received"]

        # The end: the last time a datagram was received or a document assembled (documents
        # are in the ingest log before the assembler sees them), once nothing moved for 0.3 s.
        last, changed = progress(), time.perf_counter()
        received_at = changed
        while (
            process.poll() is None
            or time.perf_counter() - changed < 0.3
            or last[1] < udp.stats["accepted"]
        ):
            time.sleep(0.002)
            now = progress()
            if now != last:
                if now[0] != last[0]:
                    received_at = time.perf_counter()
                last, changed = now, time.perf_counter()
        _join(process)
        seconds = changed - started
        stats = dict(udp.stats)
        kernel = kernel_drops(collector.udp_address) or 0
    unaccounted = count - stats["received"] - kernel
    return {
        "sent": count,
        "received": stats["received"],
        "accepted": stats["accepted"],
        "rejected": stats["rejected"],
        "dropped": stats["dropped"],
        "kernel_dropped": kernel,
        "unaccounted": unaccounted,
        "seconds": seconds,
        "documents_per_s": stats["accepted"] / seconds,
        # Received, checked and queued by the Rust reader (until the last datagram arrived).
        "received_per_s": stats["received"] / (received_at - started),
    }


def _python_receiver(count: int) -> dict[str, Any]:
    """The baseline: a Python loop that only calls ``recvfrom`` (no checks, no storage)."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    datagrams = _datagrams(min(count, 50_000))
    received = 0
    process = _sender(receiver.getsockname(), datagrams, count)
    started = _go(process)
    try:
        while True:
            receiver.recvfrom(65536)
            received += 1
    except socket.timeout:
        pass
    seconds = time.perf_counter() - started - 0.5
    _join(process)
    receiver.close()
    return {
        "sent": count,
        "received": received,
        "seconds": seconds,
        "documents_per_s": received / seconds,
    }


# --- queries ----------------------------------------------------------------------------------


def cache_dir(traces: int) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xrfast" / f"bench-collector-{traces}"


def build_store(directory: Path, traces: int, console: Console) -> float:
    """Fills a store with ``traces`` traces: the workload's traces copied with new ids whose
    times spread one trace per second. Returns the first trace-id time."""
    from xrfast.collector.store import Store

    # Checkout traces of a realistic shape (several services, SQL, DynamoDB, SNS) without the
    # extra local subsegments and padding: about 2 KB stored per trace.
    config = workload.WorkloadConfig(
        traces=1000,
        seed=7,
        in_progress_rate=0.0,
        fanout=1,
        depth=1,
        stream_threshold=30,
        payload_bytes=(0, 0),
    )
    template = workload.generate(config)
    by_trace: dict[str, list[bytes]] = {}
    for doc in template:
        if b'"trace_id"' in doc:
            by_trace.setdefault(json.loads(doc)["trace_id"], []).append(doc)
    groups = list(by_trace.items())
    base = 1_700_000_000
    store = Store(directory)
    store.start_checkpoints()
    started = time.perf_counter()
    chunk = 5000
    for first in range(0, traces, chunk):
        docs: list[bytes] = []
        for i in range(first, min(first + chunk, traces)):
            tid, tdocs = groups[i % len(groups)]
            new = f"1-{base + i:08x}-{i:024x}".encode()
            docs.extend(d.replace(tid.encode(), new) for d in tdocs)
        parsed = xrfast.parse(docs, format="document", on_error="skip")
        store.writer.execute("BEGIN")
        store.upsert_traces(parsed, time.time())
        store.writer.execute("COMMIT")
        if first % 100_000 == 0:
            console.print(
                f"  store: {first + chunk:,} traces ({time.perf_counter() - started:.0f} s)"
            )
    store.set_meta("bench_traces", str(traces))
    store.close()
    return float(base)


def _query(conn: http.client.HTTPConnection, body: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    data = json.dumps(body).encode()
    started = time.perf_counter()
    conn.request("POST", "/TraceSummaries", data, {"Content-Type": "application/json"})
    response = conn.getresponse()
    payload = response.read()
    seconds = time.perf_counter() - started
    assert response.status == 200, payload[:200]
    return seconds, json.loads(payload)


def queries(traces: int, repeat: int, console: Console, *, keep: bool) -> dict[str, Any]:
    """GetTraceSummaries latency over a store of ``traces`` traces."""
    from xrfast.collector import Collector
    from xrfast.collector.store import Store

    directory = cache_dir(traces) if keep else Path(tempfile.mkdtemp())
    try:
        ready = False
        if (directory / "collector.sqlite3").exists():
            store = Store(directory)
            ready = store.get_meta("bench_traces") == str(traces).encode()
            store.close()
        if not ready:
            shutil.rmtree(directory, ignore_errors=True)
            console.print(f"  building a store of {traces:,} traces in {directory}")
            started = time.perf_counter()
            build_store(directory, traces, console)
            console.print(f"  built in {time.perf_counter() - started:.0f} s")
        base = 1_700_000_000.0
        end = base + traces
        middle = base + traces / 2
        with Collector(
            udp="127.0.0.1:0",
            http="127.0.0.1:0",
            data_dir=str(directory),
            retention_seconds=1e10,
            purge_seconds=1e9,
        ) as collector:
            host, port = collector.http_address
            conn = http.client.HTTPConnection(host, port, timeout=120)
            cases: dict[str, dict[str, Any]] = {
                "all traces, first page": {"StartTime": base, "EndTime": end},
                "one hour, first page": {"StartTime": middle, "EndTime": middle + 3600},
                "all traces, Event range": {
                    "StartTime": 0,
                    "EndTime": 4e9,
                    "TimeRangeType": "Event",
                },
                "one hour, sampled 10%": {
                    "StartTime": middle,
                    "EndTime": middle + 3600,
                    "Sampling": True,
                },
            }
            _, first = _query(conn, cases["all traces, first page"])
            if "NextToken" in first:
                cases["all traces, second page"] = {
                    "StartTime": base,
                    "EndTime": end,
                    "NextToken": first["NextToken"],
                }
            cases["one hour, filter responsetime > 0.5"] = {
                "StartTime": middle,
                "EndTime": middle + 3600,
                "FilterExpression": "responsetime > 0.5",
            }
            results = {}
            for name, body in cases.items():
                times = []
                for _ in range(repeat):
                    seconds, answer = _query(conn, body)
                    times.append(seconds)
                times.sort()
                results[name] = {
                    "median_ms": statistics.median(times) * 1e3,
                    "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))] * 1e3,
                    "summaries": len(answer["TraceSummaries"]),
                    "processed": answer["TracesProcessedCount"],
                }
            conn.close()
            # Baseline: the one-hour page without a store (assemble and summarise the window).
            store = collector.store
            assert store is not None
            rows = store.scan(
                "TraceId", middle, middle + 3600, after=None, limit=10**9, with_documents=True
            )
            documents = [d for row in rows for d in row.document_list()]
            count = len(rows)
        baseline = []
        for _ in range(max(3, repeat // 4)):
            started = time.perf_counter()
            summaries = xrfast.parse(documents, format="document", on_error="skip").summaries()
            baseline.append(time.perf_counter() - started)
        results["baseline: one hour assembled from documents"] = {
            "median_ms": statistics.median(baseline) * 1e3,
            "p95_ms": max(baseline) * 1e3,
            "summaries": len(summaries),
            "processed": count,
        }
        size = sum(p.stat().st_size for p in directory.glob("collector.sqlite3*"))
        return {"store_traces": traces, "store_bytes": size, "repeat": repeat, "queries": results}
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def run(*, quick: bool, console: Console, store_traces: int | None = None) -> dict[str, Any]:
    """The collector benchmark; ``quick`` uses 20,000 datagrams and a 2,000-trace store."""
    count = 20_000 if quick else 400_000
    repeats = 1 if quick else 3
    console.print("[bold]collector[/]: UDP ingest on loopback (sender in another process)")
    runs = [ingest_collector(count, console) for _ in range(repeats)]
    ingest = sorted(runs, key=lambda r: r["documents_per_s"])[len(runs) // 2]
    baseline = sorted(
        (_python_receiver(count) for _ in range(repeats)), key=lambda r: r["documents_per_s"]
    )[repeats // 2]
    console.print(
        f"  collector: {ingest['received_per_s']:,.0f} datagrams/s received and queued, "
        f"{ingest['documents_per_s']:,.0f} documents/s ingested (logged, assembled, stored) "
        f"(sent {ingest['sent']:,}, received {ingest['received']:,}, accepted "
        f"{ingest['accepted']:,}, rejected {ingest['rejected']:,}, dropped {ingest['dropped']:,}, "
        f"kernel-dropped {ingest['kernel_dropped']:,}, unaccounted {ingest['unaccounted']:,}); "
        f"baseline Python recvfrom loop: {baseline['documents_per_s']:,.0f}/s "
        f"(received {baseline['received']:,} of {baseline['sent']:,})"
    )
    traces = store_traces or (2_000 if quick else 1_000_000)
    console.print(f"[bold]collector[/]: GetTraceSummaries over {traces:,} stored traces")
    query = queries(traces, 5 if quick else 21, console, keep=not quick)
    for name, figures in query["queries"].items():
        console.print(
            f"  {name}: median {figures['median_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms "
            f"({figures['summaries']} summaries, {figures['processed']:,} processed)"
        )
    return {
        "ingest": ingest,
        "ingest_runs": runs,
        "ingest_baseline": baseline,
        "ingest_ratio": ingest["documents_per_s"] / baseline["documents_per_s"],
        "summaries": query,
    }


def main() -> None:
    """``python -m xrfast.bench.collector``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--store-traces", type=int, default=None)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    report = run(quick=args.quick, console=Console(), store_traces=args.store_traces)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
