"""``/metrics`` in the Prometheus text exposition format (version 0.0.4), written by hand.

Two families of metrics:

* **Service graph**, named as the OpenTelemetry Collector's ``servicegraph`` connector and
  Grafana Tempo's metrics generator name them, so their dashboards work unchanged:
  ``traces_service_graph_request_total{client,server}``,
  ``traces_service_graph_request_failed_total{client,server}`` (X-Ray's errors and faults) and
  the histograms ``traces_service_graph_request_server_seconds`` and
  ``traces_service_graph_request_client_seconds``. X-Ray measures an edge once, from the
  caller's subsegment, so both histograms hold the same observations (docs/collector.md).
* **Ingest**: datagrams received / accepted / rejected (by reason) / dropped, documents,
  traces, the store's size.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import xrfast
from xrfast import TraceSet

__all__ = ["GraphMetrics", "render"]

#: The OpenTelemetry servicegraph connector's default latency buckets, in seconds.
BUCKETS = (
    0.002,
    0.004,
    0.006,
    0.008,
    0.01,
    0.05,
    0.1,
    0.2,
    0.4,
    0.8,
    1.0,
    1.4,
    2.0,
    5.0,
    10.0,
    15.0,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class GraphMetrics:
    """The service graph of every trace stored since start (an :class:`xrfast.Analysis` that
    keeps no traces, so memory stays bounded by the nodes and edges)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._analysis = xrfast.analyze(xrfast.parse(b""), keep_traces=False)

    def add(self, traces: TraceSet) -> None:
        """Adds stored traces."""
        with self._lock:
            self._analysis.add(traces)

    def edges(self) -> list[tuple[str, str, dict[str, Any]]]:
        """``(client, server, totals)`` per pair of node names, edges of nodes that share a name
        (different types or accounts) added up, so every series is unique. The client node X-Ray
        puts in front of a root is named ``user``, as Tempo names callers it cannot see.

        ``totals`` has ``total``, ``failed``, ``seconds`` and ``histogram`` (value → count).
        """
        with self._lock:
            graph = self._analysis.service_graph()
        names = {s["ReferenceId"]: s["Name"] for s in graph["Services"]}
        pairs: dict[tuple[str, str], dict[str, Any]] = {}
        for service in graph["Services"]:
            client = "user" if service.get("Type") == "client" else service["Name"]
            for edge in service["Edges"]:
                server = names.get(edge["ReferenceId"], "unknown")
                stats = edge["SummaryStatistics"]
                totals = pairs.setdefault(
                    (client, server), {"total": 0, "failed": 0, "seconds": 0.0, "histogram": {}}
                )
                totals["total"] += stats["TotalCount"]
                totals["failed"] += (
                    stats["ErrorStatistics"]["TotalCount"] + stats["FaultStatistics"]["TotalCount"]
                )
                totals["seconds"] += float(stats["TotalResponseTime"])
                histogram = totals["histogram"]
                for entry in edge["ResponseTimeHistogram"]:
                    value = float(entry["Value"])
                    histogram[value] = histogram.get(value, 0) + int(entry["Count"])
        return [(client, server, totals) for (client, server), totals in sorted(pairs.items())]


def _family(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]


def _histogram(
    name: str, help_text: str, series: Iterable[tuple[dict[str, str], dict[float, int], float]]
) -> list[str]:
    lines = _family(name, "histogram", help_text)
    for labels, histogram, total in series:
        values = sorted(histogram.items())
        count = 0
        i = 0
        for bound in BUCKETS:
            while i < len(values) and values[i][0] <= bound:
                count += values[i][1]
                i += 1
            lines.append(f"{name}_bucket{_labels({**labels, 'le': _number(bound)})} {count}")
        count += sum(c for _, c in values[i:])
        lines.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {count}")
        lines.append(f"{name}_sum{_labels(labels)} {_number(total)}")
        lines.append(f"{name}_count{_labels(labels)} {count}")
    return lines


def render(
    *,
    graph: GraphMetrics,
    udp: dict[str, Any] | None,
    assembler: dict[str, int],
    ingest: dict[str, int],
    store: dict[str, int],
) -> str:
    """The whole ``/metrics`` page.

    Arguments:
        graph: the service-graph metrics.
        udp: :attr:`xrfast._core.DaemonSocket.stats` (``None`` without UDP ingest).
        assembler: :attr:`xrfast.TraceAssembler.stats`.
        ingest: the pipeline's counters.
        store: :meth:`xrfast.collector.store.Store.counts`.
    """
    lines: list[str] = []
    edges = graph.edges()
    total = _family(
        "traces_service_graph_request_total", "counter", "Requests between two nodes (X-Ray edges)."
    )
    failed = _family(
        "traces_service_graph_request_failed_total",
        "counter",
        "Requests between two nodes that failed (X-Ray errors and faults).",
    )
    for client, server, totals in edges:
        labels = _labels({"client": client, "server": server})
        total.append(f"traces_service_graph_request_total{labels} {totals['total']}")
        failed.append(f"traces_service_graph_request_failed_total{labels} {totals['failed']}")
    lines += total + failed
    series = [
        ({"client": client, "server": server}, totals["histogram"], totals["seconds"])
        for client, server, totals in edges
    ]
    for side in ("server", "client"):
        lines += _histogram(
            f"traces_service_graph_request_{side}_seconds",
            f"Time of requests between two nodes, in seconds, as the caller measured it ({side}).",
            series,
        )
    if udp is not None:
        lines += _family(
            "xrfast_collector_datagrams_total", "counter", "UDP datagrams, by outcome."
        )
        outcomes = {
            "received": udp["received"],
            "accepted": udp["accepted"],
            "dropped": udp["dropped"],
        }
        for outcome, value in outcomes.items():
            lines.append(f'xrfast_collector_datagrams_total{{outcome="{outcome}"}} {value}')
        lines += _family(
            "xrfast_collector_datagrams_rejected_total",
            "counter",
            "UDP datagrams rejected, by reason.",
        )
        for reason in ("header", "empty", "too_big", "not_utf8"):
            value = udp[f"rejected_{reason}"]
            lines.append(f'xrfast_collector_datagrams_rejected_total{{reason="{reason}"}} {value}')
        if udp.get("kernel_dropped") is not None:
            lines += _family(
                "xrfast_collector_datagrams_kernel_dropped_total",
                "counter",
                "UDP datagrams the kernel dropped before the reader saw them (receive buffer "
                "full; from /proc/net/udp).",
            )
            lines.append(f"xrfast_collector_datagrams_kernel_dropped_total {udp['kernel_dropped']}")
        lines += _family(
            "xrfast_collector_datagram_bytes_total", "counter", "Bytes of UDP datagrams received."
        )
        lines.append(f"xrfast_collector_datagram_bytes_total {udp['bytes_received']}")
        lines += _family(
            "xrfast_collector_datagrams_queued", "gauge", "Documents waiting to be drained."
        )
        lines.append(f"xrfast_collector_datagrams_queued {udp['queued']}")
    lines += _family("xrfast_collector_documents_total", "counter", "Documents, by outcome.")
    for outcome in ("received", "accepted", "rejected", "dropped"):
        value = assembler[f"documents_{outcome}"]
        lines.append(f'xrfast_collector_documents_total{{outcome="{outcome}"}} {value}')
    lines += _family("xrfast_collector_traces_total", "counter", "Traces, by event.")
    for event, value in (
        ("emitted", assembler["traces_emitted"]),
        ("evicted", assembler["traces_evicted"]),
        ("dropped", assembler["traces_dropped"]),
        ("written", ingest["traces_written"]),
        ("purged", ingest["traces_purged"]),
    ):
        lines.append(f'xrfast_collector_traces_total{{event="{event}"}} {value}')
    lines += _family("xrfast_collector_open_traces", "gauge", "Traces being assembled.")
    lines.append(f"xrfast_collector_open_traces {assembler['open_traces']}")
    lines += _family(
        "xrfast_collector_put_requests_total", "counter", "PutTraceSegments requests logged."
    )
    lines.append(f"xrfast_collector_put_requests_total {ingest['put_requests']}")
    lines += _family(
        "xrfast_collector_write_errors_total", "counter", "Failed store writes (see the log)."
    )
    lines.append(f"xrfast_collector_write_errors_total {ingest['write_errors']}")
    lines += _family("xrfast_collector_store_traces", "gauge", "Traces in the store.")
    lines.append(f"xrfast_collector_store_traces {store['traces']}")
    lines += _family("xrfast_collector_store_bytes", "gauge", "Size of the store on disk.")
    lines.append(f"xrfast_collector_store_bytes {store['bytes']}")
    return "\n".join(lines) + "\n"
