"""``xrfast collect`` as a process: SIGTERM stops it cleanly, and after ``kill -9`` a restart
serves every batch that was acknowledged (docs/collector.md, "Durability")."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from xrfast.bench import workload

LISTENING = re.compile(r"UDP (\S+):(\d+), HTTP (http://\S+)")


UDP_ADDRESS: list[tuple[str, int]] = []


@contextmanager
def collect(data_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Runs ``xrfast collect`` on free loopback ports; yields the process and its endpoint (the
    UDP address is in ``UDP_ADDRESS[0]``)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xrfast",
            "collect",
            "--udp",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            # Long timeouts: nothing is summarised before the kill, so the restart must
            # rebuild every trace from the ingest log.
            "--trace-idle-timeout",
            "30",
            "--trace-incomplete-timeout",
            "60",
            # The workload's traces are from 2024: beyond the default 30-day retention.
            "--retention-seconds",
            "1e10",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = LISTENING.search(line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        UDP_ADDRESS[:] = [(match[1], int(match[2]))]
        yield process, match[3]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def call(endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        endpoint + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def batches() -> tuple[list[list[str]], set[str]]:
    docs = workload.generate(workload.WorkloadConfig(traces=40, seed=21))
    text = [d.decode() for d in docs]
    ids = {json.loads(d)["trace_id"] for d in docs if b'"trace_id"' in d}
    return [text[i : i + 25] for i in range(0, len(text), 25)], ids


def all_ids(endpoint: str) -> set[str]:
    ids: set[str] = set()
    body: dict[str, Any] = {"StartTime": 0, "EndTime": 4e9}
    while True:
        page = call(endpoint, "/TraceSummaries", body)
        ids |= {s["Id"] for s in page["TraceSummaries"]}
        if "NextToken" not in page:
            return ids
        body["NextToken"] = page["NextToken"]


def test_kill_9_then_restart_loses_nothing_acknowledged(tmp_path: Path) -> None:
    parts, ids = batches()
    with collect(tmp_path) as (process, endpoint):
        for part in parts:
            result = call(endpoint, "/TraceSegments", {"TraceSegmentDocuments": part})
            assert result == {"UnprocessedTraceSegments": []}
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with collect(tmp_path) as (process, endpoint):
        assert all_ids(endpoint) == ids
        first = call(endpoint, "/TraceSummaries", {"StartTime": 0, "EndTime": 4e9})
        traces = call(endpoint, "/Traces", {"TraceIds": sorted(ids)[:5]})
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    # A third start (after a clean stop) serves the same answers.
    with collect(tmp_path) as (process, endpoint):
        assert call(endpoint, "/TraceSummaries", {"StartTime": 0, "EndTime": 4e9}) == first
        assert call(endpoint, "/Traces", {"TraceIds": sorted(ids)[:5]}) == traces


def test_sigterm_stores_open_traces_and_exits_0(tmp_path: Path) -> None:
    parts, ids = batches()
    with collect(tmp_path) as (process, endpoint):
        call(endpoint, "/TraceSegments", {"TraceSegmentDocuments": [d for p in parts for d in p]})
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 30
        assert process.stdout is not None and process.stderr is not None
        assert "stopped, everything received is stored" in process.stdout.read()
        assert "SIGTERM: stopping" in process.stderr.read()
    with collect(tmp_path) as (process, endpoint):
        assert all_ids(endpoint) == ids
        health = json.loads(urllib.request.urlopen(endpoint + "/health", timeout=30).read())
        assert health["ingest"]["replayed_batches"] == 0  # all summarised before the exit


def test_udp_batches_are_durable_once_logged(tmp_path: Path) -> None:
    import socket

    parts, ids = batches()
    documents = [d for p in parts for d in p]
    with collect(tmp_path) as (process, endpoint):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for document in documents:
            sender.sendto(b'{"format":"json","version":1}\n' + document.encode(), UDP_ADDRESS[0])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = json.loads(urllib.request.urlopen(endpoint + "/health", timeout=30).read())
            if health["ingest"]["documents_logged"] == len(documents):
                break
            time.sleep(0.05)
        assert health["udp"]["received"] == len(documents)
        assert health["ingest"]["documents_logged"] == len(documents)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with collect(tmp_path) as (process, endpoint):
        assert all_ids(endpoint) == ids
