"""The X-Ray API operations over the store (spec §8): each takes the request body as a dict and
returns the response body as a dict, or raises :class:`RequestError` with X-Ray's error code.

These run on worker threads (never on the event loop); writes go through the pipeline's writer.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson

import xrfast
from xrfast.collector.ingest import MAX_PENDING_JOBS, Pipeline, documents_of_body
from xrfast.collector.settings import CollectorSettings
from xrfast.collector.store import KEYS, Store, TraceRow
from xrfast.exceptions import XRayError
from xrfast.sampling.errors import SamplingRequestError
from xrfast.sampling.service import SamplingService

__all__ = ["Operations", "RequestError"]

GROUPS_META = "groups"
SAMPLING_META = "sampling"
GROUP_NAME = re.compile(r"^[A-Za-z0-9-]{1,32}$")
TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")


class RequestError(XRayError):
    """An X-Ray API error: ``code`` (e.g. ``InvalidRequestException``), ``message`` and the HTTP
    ``status`` it is answered with."""

    def __init__(self, message: str, code: str = "InvalidRequestException", status: int = 400):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def throttled(message: str) -> RequestError:
    """A ``ThrottledException`` (429)."""
    return RequestError(message, "ThrottledException", 429)


# --- request checks ------------------------------------------------------------------------------


def _time(body: dict[str, Any], name: str, *, required: bool = True) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise RequestError(f"{name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RequestError(f"{name} must be a timestamp in epoch seconds")
    try:
        number = float(value)
    except ValueError:
        number = _iso_time(value, name)
    if not math.isfinite(number):
        raise RequestError(f"{name} must be a finite timestamp")
    return number


def _iso_time(value: str, name: str) -> float:
    """An ISO-8601 timestamp (spec §10 Q25: accepted leniently; UTC when it has no offset)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RequestError(
            f"{name} must be a timestamp in epoch seconds (or ISO 8601), not {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _window(body: dict[str, Any]) -> tuple[float, float]:
    start = _time(body, "StartTime")
    end = _time(body, "EndTime")
    assert start is not None and end is not None
    if start > end:
        raise RequestError("StartTime must not be later than EndTime")
    return start, end


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise RequestError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise RequestError(f"{name} must be a string")
    return value


def _trace_ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("TraceIds")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RequestError("TraceIds is required and must be a list of strings")
    if not 1 <= len(ids) <= 5:
        raise RequestError(f"TraceIds must hold 1 to 5 trace ids, not {len(ids)}")
    return list(dict.fromkeys(ids))


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def _read_token(token: str, fingerprint: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise RequestError("NextToken is not a token this collector issued") from None
    if not isinstance(payload, dict) or payload.get("q") != fingerprint:
        raise RequestError("NextToken belongs to another query")
    return payload


class Operations:
    """The X-Ray API of one collector.

    Arguments:
        settings: the collector's settings.
        store: the store (read side).
        pipeline: the ingest pipeline (writes).
    """

    def __init__(self, settings: CollectorSettings, store: Store, pipeline: Pipeline) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self._lock = threading.Lock()
        self._groups: dict[str, dict[str, Any]] = {}
        raw = store.get_meta(GROUPS_META, reader=True)
        if raw:
            self._groups = {g["GroupName"]: g for g in orjson.loads(raw)}
        self._sampling: Any = None
        self.telemetry_records = 0

    # --- dispatch -----------------------------------------------------------------------------

    def handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        """Path → operation, for every path served (spec §8.5)."""
        return {
            "/TraceSummaries": self.get_trace_summaries,
            "/Traces": self.batch_get_traces,
            "/ServiceGraph": self.get_service_graph,
            "/TraceGraph": self.get_trace_graph,
            "/TimeSeriesServiceStatistics": self.get_time_series_service_statistics,
            "/GetSamplingRules": self.get_sampling_rules,
            "/GetCentralizedSamplingRules": self.get_sampling_rules,
            "/SamplingTargets": self.get_sampling_targets,
            "/SamplingStatisticSummaries": self.get_sampling_statistic_summaries,
            "/CreateSamplingRule": self.create_sampling_rule,
            "/UpdateSamplingRule": self.update_sampling_rule,
            "/DeleteSamplingRule": self.delete_sampling_rule,
            "/Groups": self.get_groups,
            "/GetGroup": self.get_group,
            "/CreateGroup": self.create_group,
            "/UpdateGroup": self.update_group,
            "/DeleteGroup": self.delete_group,
            "/TelemetryRecords": self.put_telemetry_records,
        }

    # --- PutTraceSegments ----------------------------------------------------------------------

    def check_put_trace_segments(self, body: bytes) -> int:
        """Validates a ``PutTraceSegments`` body before it is logged.

        Returns:
            Its number of documents.

        Raises:
            RequestError: the body is malformed, holds too many documents, or the writer is
                too far behind (``ThrottledException``).
        """
        try:
            count = documents_of_body(body)
        except (TypeError, ValueError) as e:
            raise RequestError(str(e)) from None
        if count > self.settings.max_batch_documents:
            raise RequestError(
                f"TraceSegmentDocuments holds {count} documents, more than the limit of "
                f"{self.settings.max_batch_documents} (max_batch_documents)"
            )
        if self.pipeline.pending >= MAX_PENDING_JOBS:
            raise throttled("the collector is writing a backlog; retry later")
        return count

    # --- traces ----------------------------------------------------------------------------------

    def _compile(self, expression: str) -> xrfast.Filter:
        try:
            return xrfast.compile_filter(expression, groups=self._group_list())
        except ValueError as e:  # FilterExpressionError is a ValueError
            raise RequestError(f"Invalid FilterExpression: {e}") from None

    def get_trace_summaries(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetTraceSummaries (spec §4.4)."""
        lo, hi = _window(body)
        range_type = body.get("TimeRangeType") or "TraceId"
        if range_type not in KEYS:
            raise RequestError(
                f"TimeRangeType must be TraceId, Event or Service, not {range_type!r}"
            )
        expression = _string(body, "FilterExpression")
        rate = self._sampling_rate(body)
        fingerprint = hashlib.sha1(
            orjson.dumps([lo, hi, range_type, expression, rate]), usedforsecurity=False
        ).hexdigest()[:16]
        after: tuple[float, str] | None = None
        token = _string(body, "NextToken")
        if token:
            payload = _read_token(token, fingerprint)
            after = (float(payload["k"]), str(payload["i"]))
        filt = self._compile(expression) if expression else None
        page = self.settings.page_size
        exact = filt is not None or rate is not None or range_type == "Service"
        summaries: list[bytes] = []
        scanned = 0
        last: TraceRow | None = None
        more = False
        budget = self.settings.max_scan_traces
        while True:
            limit = (
                min(page + 1, budget - scanned + 1) if not exact else min(1000, budget - scanned)
            )
            rows = self.store.scan(
                range_type,
                lo,
                hi,
                after=after,
                limit=max(limit, 1),
                with_documents=filt is not None,
            )
            if not exact:
                more = len(rows) > page
                rows = rows[:page]
                scanned += len(rows)
                summaries = [r.summary for r in rows]
                last = rows[-1] if rows else None
                break
            matched = self._matching(rows, filt, rate, range_type, lo, hi)
            stop_at = len(rows)
            for n, (row, ok) in enumerate(zip(rows, matched)):
                if ok:
                    summaries.append(row.summary)
                    if len(summaries) == page:
                        stop_at = n + 1
                        break
            scanned += stop_at
            if stop_at:
                last = rows[stop_at - 1]
                after = (last.key, last.id)
            if len(summaries) == page or len(rows) < limit or scanned >= budget:
                more = bool(rows) and (stop_at < len(rows) or len(rows) == limit)
                break
        out: dict[str, Any] = {
            "TraceSummaries": [_summary(s) for s in summaries],
            "ApproximateTime": float(last.key) if last is not None else hi,
            "TracesProcessedCount": scanned,
        }
        if more and last is not None:
            out["NextToken"] = _token({"q": fingerprint, "k": last.key, "i": last.id})
        return out

    def _sampling_rate(self, body: dict[str, Any]) -> float | None:
        if not body.get("Sampling"):
            return None
        strategy = body.get("SamplingStrategy") or {}
        if not isinstance(strategy, dict):
            raise RequestError("SamplingStrategy must be an object")
        name = strategy.get("Name", "FixedRate")
        value = strategy.get("Value", 0.1)
        if name not in ("FixedRate", "PartialScan"):
            raise RequestError(
                f"SamplingStrategy.Name must be PartialScan or FixedRate, not {name!r}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise RequestError("SamplingStrategy.Value must be a number in (0, 1]")
        return float(value)

    def _matching(
        self,
        rows: list[TraceRow],
        filt: Any,
        rate: float | None,
        range_type: str,
        lo: float,
        hi: float,
    ) -> list[bool]:
        import numpy as np

        ok = [True] * len(rows)
        if range_type == "Service":
            for n, row in enumerate(rows):
                ends = np.frombuffer(row.seg_ends, dtype="<f8")
                ok[n] = bool(((ends >= lo) & (ends < hi)).any())
        if rate is not None:
            for n, row in enumerate(rows):
                # A hash of the trace id, as a fraction: the same sample on every page and call.
                ok[n] = ok[n] and zlib.crc32(row.id.encode()) / 2**32 < rate
        if filt is not None:
            candidates = [n for n in range(len(rows)) if ok[n]]
            documents: list[bytes] = []
            for n in candidates:
                documents.extend(rows[n].document_list())
            traces = xrfast.parse(documents, format="document", on_error="skip")
            selected = set(filt.select_ids(traces))
            for n in candidates:
                ok[n] = rows[n].id in selected
        return ok

    def _traces_of(self, ids: list[str]) -> tuple[xrfast.TraceSet, list[str]]:
        stored = self.store.documents_of(ids)
        documents = [d for tid in ids if tid in stored for d in stored[tid]]
        traces = xrfast.parse(documents, format="document", on_error="skip")
        return traces, [tid for tid in ids if tid not in stored]

    def batch_get_traces(self, body: dict[str, Any]) -> dict[str, Any]:
        """BatchGetTraces: 1 to 5 ids (spec §10 Q26); unknown ids in ``UnprocessedTraceIds``."""
        ids = _trace_ids(body)
        traces, missing = self._traces_of(ids)
        order = {tid: n for n, tid in enumerate(ids)}
        found = sorted(orjson.loads(traces.to_json())["Traces"], key=lambda t: order[t["Id"]])
        return {"Traces": found, "UnprocessedTraceIds": missing}

    def _analysis(self, lo: float, hi: float, group: Any) -> Any:
        limit = self.settings.max_graph_traces
        documents, count = self.store.window_documents(lo, hi, limit)
        if count > limit:
            raise RequestError(
                f"the window holds more than {limit} traces (max_graph_traces); ask for a "
                "shorter one"
            )
        traces = xrfast.parse(documents, format="document", on_error="skip")
        return xrfast.analyze(traces, start=lo, end=hi, filter=group)

    def _group_filter(self, body: dict[str, Any]) -> Any:
        name = _string(body, "GroupName")
        arn = _string(body, "GroupARN")
        if name is None and arn is None:
            return None
        group = self._find_group(name, arn)
        expression = group.get("FilterExpression")
        return self._compile(expression) if expression else None

    def get_service_graph(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetServiceGraph over the traces that start in the window (spec §5.6)."""
        lo, hi = _window(body)
        graph: dict[str, Any] = self._analysis(lo, hi, self._group_filter(body)).service_graph()
        graph["StartTime"], graph["EndTime"] = lo, hi
        return graph

    def get_trace_graph(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetTraceGraph of 1 to 5 traces."""
        ids = _trace_ids(body)
        traces, _ = self._traces_of(ids)
        if not len(traces):
            return {"Services": []}
        result: dict[str, Any] = xrfast.analyze(traces).trace_graph(traces.ids)
        return result

    def get_time_series_service_statistics(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetTimeSeriesServiceStatistics; ``ForecastStatistics`` is not computed."""
        lo, hi = _window(body)
        period = body.get("Period", 60)
        if period not in (60, 300, 3600):
            raise RequestError(f"Period must be 60, 300 or 3600 seconds, not {period!r}")
        selector = _string(body, "EntitySelectorExpression")
        if selector is not None and not 1 <= len(selector) <= 500:
            raise RequestError("EntitySelectorExpression must be 1 to 500 characters")
        analysis = self._analysis(lo, hi, self._group_filter(body))
        try:
            result: dict[str, Any] = analysis.time_series(period, entity_selector=selector)
        except ValueError as e:  # FilterExpressionError is a ValueError
            raise RequestError(f"Invalid EntitySelectorExpression: {e}") from None
        return result

    # --- groups --------------------------------------------------------------------------------

    def _arn(self, kind: str, name: str) -> str:
        s = self.settings
        return f"arn:aws:xray:{s.region}:{s.account_id}:{kind}/{name}"

    def _default_group(self) -> dict[str, Any]:
        return {
            "GroupName": "Default",
            "GroupARN": self._arn("group", "Default"),
            "InsightsConfiguration": {"InsightsEnabled": False, "NotificationsEnabled": False},
        }

    def _group_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._default_group(), *self._groups.values()]

    def _find_group(self, name: str | None, arn: str | None) -> dict[str, Any]:
        for group in self._group_list():
            if (name is None or group["GroupName"] == name) and (
                arn is None or group["GroupARN"] == arn
            ):
                return group
        raise RequestError(f"Group not found: {name or arn}")

    def _save_groups(self) -> None:
        data = orjson.dumps(list(self._groups.values()))
        self.pipeline.submit(lambda: self.store.set_meta(GROUPS_META, data)).result()

    def _insights(self, body: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
        config = body.get("InsightsConfiguration")
        base = dict(current or {"InsightsEnabled": False, "NotificationsEnabled": False})
        if config is None:
            return base
        if not isinstance(config, dict):
            raise RequestError("InsightsConfiguration must be an object")
        for key in ("InsightsEnabled", "NotificationsEnabled"):
            if key in config:
                if not isinstance(config[key], bool):
                    raise RequestError(f"InsightsConfiguration.{key} must be a boolean")
                base[key] = config[key]
        if base["NotificationsEnabled"] and not base["InsightsEnabled"]:
            raise RequestError("NotificationsEnabled requires InsightsEnabled")
        return base

    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """CreateGroup: names of 1 to 32 letters, digits and dashes; ``Default`` is reserved."""
        name = _string(body, "GroupName", required=True)
        assert name is not None
        if not GROUP_NAME.match(name):
            raise RequestError("GroupName must be 1 to 32 letters, digits or dashes")
        if name == "Default":
            raise RequestError("The group name Default is reserved")
        expression = _string(body, "FilterExpression")
        if expression:
            self._compile(expression)
        with self._lock:
            if name in self._groups:
                raise RequestError(f"Group {name} already exists")
            group = {
                "GroupName": name,
                "GroupARN": self._arn("group", f"{name}/{uuid.uuid4().hex[:24].upper()}"),
                "InsightsConfiguration": self._insights(body, None),
            }
            if expression:
                group["FilterExpression"] = expression
            self._groups[name] = group
        self._save_groups()
        return {"Group": group}

    def get_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetGroup by ``GroupName`` or ``GroupARN``."""
        name, arn = _string(body, "GroupName"), _string(body, "GroupARN")
        if name is None and arn is None:
            raise RequestError("GroupName or GroupARN is required")
        return {"Group": self._find_group(name, arn)}

    def get_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetGroups: every group, ``Default`` first (one page)."""
        return {"Groups": self._group_list()}

    def update_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """UpdateGroup: the filter and insights configuration."""
        name, arn = _string(body, "GroupName"), _string(body, "GroupARN")
        if name is None and arn is None:
            raise RequestError("GroupName or GroupARN is required")
        group = dict(self._find_group(name, arn))
        if group["GroupName"] == "Default":
            raise RequestError("The Default group cannot be changed")
        expression = _string(body, "FilterExpression")
        if expression is not None:
            if expression:
                self._compile(expression)
                group["FilterExpression"] = expression
            else:
                group.pop("FilterExpression", None)
        group["InsightsConfiguration"] = self._insights(body, group["InsightsConfiguration"])
        with self._lock:
            self._groups[group["GroupName"]] = group
        self._save_groups()
        return {"Group": group}

    def delete_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """DeleteGroup."""
        name, arn = _string(body, "GroupName"), _string(body, "GroupARN")
        if name is None and arn is None:
            raise RequestError("GroupName or GroupARN is required")
        group = self._find_group(name, arn)
        if group["GroupName"] == "Default":
            raise RequestError("The Default group cannot be deleted")
        with self._lock:
            self._groups.pop(group["GroupName"], None)
        self._save_groups()
        return {}

    # --- sampling (the sampling service) -------------------------------------------------------

    def sampling(self) -> SamplingService:
        """The sampling service, made (with the stored rules) on first use."""
        with self._lock:
            if self._sampling is None:
                snapshot = self.store.get_meta(SAMPLING_META, reader=True)
                service = SamplingService(
                    clock=time.time,
                    rules=orjson.loads(snapshot) if snapshot else None,
                    region=self.settings.region,
                    account_id=self.settings.account_id,
                )
                self._sampling = service
            return self._sampling

    def _sampling_call(self, method: str, body: dict[str, Any], *, save: bool) -> dict[str, Any]:
        service = self.sampling()
        try:
            result: dict[str, Any] = getattr(service, method)(body)
        except SamplingRequestError as e:
            raise RequestError(e.message, e.code, e.http_status) from None
        if save:
            snapshot = orjson.dumps(service.snapshot(), default=_jsonable)
            self.pipeline.submit(lambda: self.store.set_meta(SAMPLING_META, snapshot)).result()
        return result

    def get_sampling_rules(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetSamplingRules (also the daemon proxy's ``/GetSamplingRules``)."""
        return self._sampling_call("get_sampling_rules", body, save=False)

    def get_sampling_targets(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetSamplingTargets (the daemon proxy's ``/SamplingTargets``)."""
        return self._sampling_call("get_sampling_targets", body, save=False)

    def get_sampling_statistic_summaries(self, body: dict[str, Any]) -> dict[str, Any]:
        """GetSamplingStatisticSummaries."""
        return self._sampling_call("get_sampling_statistic_summaries", body, save=False)

    def create_sampling_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        """CreateSamplingRule."""
        return self._sampling_call("create_sampling_rule", body, save=True)

    def update_sampling_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        """UpdateSamplingRule."""
        return self._sampling_call("update_sampling_rule", body, save=True)

    def delete_sampling_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        """DeleteSamplingRule."""
        return self._sampling_call("delete_sampling_rule", body, save=True)

    # --- telemetry -----------------------------------------------------------------------------

    def put_telemetry_records(self, body: dict[str, Any]) -> dict[str, Any]:
        """PutTelemetryRecords (sent by daemons): counted, not stored."""
        records = body.get("TelemetryRecords")
        if not isinstance(records, list):
            raise RequestError("TelemetryRecords is required and must be a list")
        self.telemetry_records += len(records)
        return {}


def _summary(blob: bytes) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(zlib.decompress(blob))
    return result


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.timestamp()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a sampling snapshot")
