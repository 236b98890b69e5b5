"""A realistic, deterministic stream of AWS X-Ray segment documents.

The stream models a checkout flow traced end to end::

    api-gateway (AWS::ApiGateway::Stage)
      └─ "Lambda" Invoke subsegment (aws) ──────────► order-service (AWS::Lambda::Function)
           ├─ process_payment (local)
           │    └─ api.stripe.com (remote, POST; 402 / 429 + retry / 5xx at the configured rates)
           ├─ inventory-service (remote, http.request.traced) ──► inventory-service (AWS::ECS::Fargate)
           │                                                        └─ reserve_stock (local)
           │                                                             ├─ orders-db (remote, sql)
           │                                                             ├─ DynamoDB UpdateItem (aws)
           │                                                             └─ orders-db (remote, sql)
           └─ SNS Publish (aws, topic_arn) ─────────────► notification-service (AWS::Lambda::Function)
                                                            ├─ render_email (local)
                                                            └─ SES SendEmail (aws)

plus, in every service segment, ``fanout`` custom ``local`` subsegments each nested ``depth``
levels deep. Documents look like what the AWS X-Ray SDK for Python 2.15 emits (member order,
``in_progress: false``, ``aws.xray.sdk``, ``service.runtime``, nested subsegments that still carry
``trace_id``/``type``/``parent_id``, ``cause`` objects with stack frames and ``cause`` string
back-references in the enclosing entity).

Streaming follows the SDK's ``DefaultStreaming``: after each subsegment closes, if the segment has
held more than ``stream_threshold`` subsegments (minus those streamed), every completed subtree whose
parent cannot be sent yet is sent as an independent subsegment (``"type": "subsegment"``, its
``parent_id`` possibly naming a still-open subsegment) and removed from the tree; the segment is
sent when it closes, without them.

Each service's documents are stamped with the time they would be sent; ``concurrency`` traces run
at once (a closed loop: a new trace starts when one finishes), and the documents of all traces are
returned in send order, so traces interleave as they do at a daemon.

Everything is drawn from one ``random.Random(seed)``: the same configuration always gives the
same bytes.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from random import Random
from typing import Any

import orjson

__all__ = [
    "DAEMON_HEADER",
    "MAX_DOCUMENT_BYTES",
    "GroundTruth",
    "WorkloadConfig",
    "generate",
    "generate_with_truth",
    "to_batch_get_traces",
    "to_datagrams",
    "to_ndjson",
    "to_put_trace_segments",
]

#: The header line the Python SDK puts before every UDP datagram (spec §2.2).
DAEMON_HEADER = b'{"format":"json","version":1}'

#: X-Ray's per-document limit (64 kB, spec §1.1); a segment's metadata padding is cut so that its
#: document stays within it.
MAX_DOCUMENT_BYTES = 64_000

_SDK = {"sdk": "X-Ray for Python", "sdk_version": "2.15.0"}
_SERVICE = {"runtime": "CPython", "runtime_version": "3.11.7"}
_REGION = "us-east-1"
_ACCOUNT = "123456789012"
_TIERS = ("free", "standard", "standard", "premium", "enterprise")
_CHAIN_NAMES = (
    "parse_request",
    "validate_cart",
    "load_customer",
    "apply_discounts",
    "fraud_check",
    "compute_tax",
    "audit_log",
    "emit_metrics",
)
_FRAMES = (
    ("app.py", "handler"),
    ("app.py", "checkout"),
    ("payments/client.py", "charge"),
    ("payments/client.py", "_request"),
    ("stripe/api_requestor.py", "request"),
    ("stripe/api_requestor.py", "interpret_response"),
    ("stripe/api_resources/abstract/createable_api_resource.py", "create"),
    ("inventory/store.py", "reserve"),
    ("botocore/client.py", "_make_api_call"),
)
_PAD_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789     "
_PAD_POOL_LEN = 70_000


@dataclass(frozen=True)
class WorkloadConfig:
    """What to generate. Every field has a realistic default.

    Arguments:
        traces: number of traces (checkout requests).
        seed: seed of the one ``random.Random`` everything is drawn from.
        concurrency: traces in flight at once; their documents interleave.
        fault_rate: share of payments answered 5xx by Stripe (the order faults).
        error_rate: share of payments declined with 402 (the order errors); also the share of
            inventory DynamoDB updates that fail a condition check and are retried.
        throttle_rate: share of payments answered 429 first, then retried successfully.
        vanish_rate: share of orders that stop after payment: the inventory call is made (its
            subsegment says ``http.request.traced: true``) but the inventory-service documents are
            never sent and no notification follows, so the trace stays partial.
        in_progress_rate: share of service segments first sent as an in-progress document (no
            ``end_time``, ``in_progress: true``, no subsegments), then complete with the same id.
        stream_threshold: the SDK's ``streaming_threshold`` (its default is 30, 0 in Lambda).
        fanout: extra custom ``local`` subsegments directly under each service segment.
        depth: nesting depth of each of those (1 = no nesting; 0 = none at all).
        annotation_cardinality: distinct values of ``user`` and the ``customer_id`` annotation.
        payload_bytes: inclusive range of the metadata padding put into each service segment
            (``metadata.default.payload``); at most 65,536. Cut where needed so that no document
            exceeds ``MAX_DOCUMENT_BYTES``.
        duplicate_rate: share of complete documents sent a second time, up to 3 s later.
        epoch: time of the first request, in epoch seconds.
    """

    traces: int = 1000
    seed: int = 42
    concurrency: int = 50
    fault_rate: float = 0.02
    error_rate: float = 0.05
    throttle_rate: float = 0.01
    vanish_rate: float = 0.01
    in_progress_rate: float = 0.1
    stream_threshold: int = 3
    fanout: int = 3
    depth: int = 3
    annotation_cardinality: int = 100
    payload_bytes: tuple[int, int] = (0, 2000)
    duplicate_rate: float = 0.0
    epoch: float = 1_717_200_000.0

    def __post_init__(self) -> None:
        for name in ("traces", "stream_threshold", "fanout", "depth"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("concurrency", "annotation_cardinality"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "fault_rate",
            "error_rate",
            "throttle_rate",
            "vanish_rate",
            "in_progress_rate",
            "duplicate_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.fault_rate + self.error_rate + self.throttle_rate > 1.0:
            raise ValueError("fault_rate + error_rate + throttle_rate must be <= 1")
        low, high = self.payload_bytes
        if not 0 <= low <= high <= 65_536:
            raise ValueError(
                f"payload_bytes must satisfy 0 <= low <= high <= 65536, got {self.payload_bytes}"
            )


class _Node:
    """A segment or subsegment being built: members before and after ``subsegments``."""

    __slots__ = ("children", "end", "head", "pad", "start", "tail")

    def __init__(self, head: dict[str, Any], start: float) -> None:
        self.head = head
        self.tail: dict[str, Any] = {}
        self.start = start
        self.end = start
        self.children: list[_Node] = []
        self.pad: dict[str, Any] | None = None  # the metadata object holding the padding

    def to_dict(self) -> dict[str, Any]:
        doc = self.head.copy()
        if self.children:
            doc["subsegments"] = [child.to_dict() for child in self.children]
        doc.update(self.tail)
        return doc


def _flags(tail: dict[str, Any], status: int) -> None:
    """The SDK's status → flag mapping (``Entity.apply_status_code``)."""
    if status >= 500:
        tail["fault"] = True
    elif status == 429:
        tail["throttle"] = True
        tail["error"] = True
    elif status >= 400:
        tail["error"] = True


class _Generator:
    """Builds the traces one after another and collects ``(send_time, seq, document)``."""

    def __init__(self, config: WorkloadConfig) -> None:
        self.config = config
        self.rng = Random(config.seed)
        self.pool = "".join(self.rng.choices(_PAD_ALPHABET, k=_PAD_POOL_LEN))
        self.out: list[tuple[float, int, bytes]] = []
        self.trace_id = ""
        self.order_id = ""
        self.last_end = 0.0
        # Ground truth for the tests (nothing here draws from the random stream).
        self.vanished: list[str] = []
        self.statuses: dict[str, int] = {}

    # -- small helpers ------------------------------------------------------------------------

    def _id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def _request_id(self) -> str:
        bits = self.rng.getrandbits(128)
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def _emit(self, time: float, data: bytes) -> None:
        out = self.out
        out.append((time, len(out), data))
        rate = self.config.duplicate_rate
        if rate and self.rng.random() < rate:
            out.append((time + self.rng.uniform(0.05, 3.0), len(out), data))

    def _padding(self) -> dict[str, Any]:
        low, high = self.config.payload_bytes
        size = self.rng.randint(low, high)
        offset = self.rng.randrange(0, _PAD_POOL_LEN - min(size, _PAD_POOL_LEN) + 1)
        payload = self.pool[offset : offset + size]
        if size > _PAD_POOL_LEN:  # only for payloads above 70,000 bytes, never with the limits
            payload = (payload * (size // len(payload) + 1))[:size]
        return {"payload": payload}

    def _cause(self, exc_type: str, message: str, remote: bool) -> tuple[dict[str, Any], str]:
        rng = self.rng
        exc_id = self._id()
        frames = rng.sample(_FRAMES, rng.randint(2, 5))
        stack = [
            {"path": path, "line": rng.randint(12, 480), "label": label} for path, label in frames
        ]
        exception: dict[str, Any] = {
            "id": exc_id,
            "message": message,
            "type": exc_type,
            "remote": remote,
            "stack": stack,
        }
        cause = {
            "working_directory": "/var/task",
            "paths": sorted({path for path, _ in frames}),
            "exceptions": [exception],
        }
        return cause, exc_id

    def _segment(
        self,
        name: str,
        start: float,
        parent_id: str | None,
        *,
        http: dict[str, Any] | None = None,
        annotations: dict[str, Any] | None = None,
        aws: dict[str, Any] | None = None,
    ) -> _Node:
        head: dict[str, Any] = {
            "id": self._id(),
            "name": name,
            "start_time": round(start, 6),
            "in_progress": False,
        }
        if http is not None:
            head["http"] = http
        if annotations is not None:
            head["annotations"] = annotations
        node = _Node(head, start)
        node.pad = self._padding()
        head["metadata"] = {"default": node.pad}
        if aws is not None:
            head["aws"] = aws
        node.tail["trace_id"] = self.trace_id
        if parent_id is not None:
            node.tail["parent_id"] = parent_id
        return node

    def _sub(self, parent: _Node, name: str, namespace: str, start: float, **fields: Any) -> _Node:
        head = {
            "id": self._id(),
            "name": name,
            "start_time": round(start, 6),
            "parent_id": parent.head["id"],
            "in_progress": False,
            "trace_id": self.trace_id,
            "type": "subsegment",
            "namespace": namespace,
        }
        if fields:
            head.update(fields)
        node = _Node(head, start)
        parent.children.append(node)
        return node

    @staticmethod
    def _close(node: _Node, end: float) -> float:
        node.end = end
        node.tail["end_time"] = round(end, 6)
        return end

    def _chain(self, parent: _Node, name: str, start: float, depth: int) -> float:
        """A custom subsegment nested ``depth`` levels deep; returns its end time."""
        rng = self.rng
        node = self._sub(
            parent,
            name,
            "local",
            start,
            metadata={
                "default": {"step": name, "items": rng.randint(1, 12)},
                "debug": {"module": "checkout.steps", "attempt": 1},
            },
        )
        if depth > 1:
            inner_end = self._chain(
                node, f"{name}.step{depth - 1}", start + rng.uniform(2e-5, 2e-4), depth - 1
            )
            end = inner_end + rng.uniform(2e-5, 3e-4)
        else:
            end = start + rng.uniform(1e-4, 4e-3)
        return self._close(node, end)

    def _chains(self, parent: _Node, start: float, count: int) -> float:
        t = start
        depth = self.config.depth
        if depth == 0:
            return t
        for _ in range(count):
            name = _CHAIN_NAMES[self.rng.randrange(len(_CHAIN_NAMES))]
            t = self._chain(parent, name, t, depth) + self.rng.uniform(2e-5, 5e-4)
        return t

    # -- sending ------------------------------------------------------------------------------

    def _send_segment(self, seg: _Node) -> None:
        """Sends ``seg`` like the SDK: maybe in progress first, streamed subtrees, then itself."""
        rng = self.rng
        if self.config.in_progress_rate and rng.random() < self.config.in_progress_rate:
            head, tail = seg.head, seg.tail
            doc = {"id": head["id"], "name": head["name"], "start_time": head["start_time"]}
            doc["in_progress"] = True
            if "aws" in head:
                doc["aws"] = head["aws"]
            doc["trace_id"] = tail["trace_id"]
            for key in ("parent_id", "service", "origin"):
                if key in tail:
                    doc[key] = tail[key]
            sent = min(seg.start + rng.uniform(1e-4, 2e-3), (seg.start + seg.end) / 2)
            self.out.append((sent, len(self.out), orjson.dumps(doc)))

        if seg.children:
            self._stream(seg)

        data = orjson.dumps(seg.to_dict())
        if len(data) > MAX_DOCUMENT_BYTES and seg.pad is not None:
            payload = seg.pad["payload"]
            seg.pad["payload"] = payload[: max(0, len(payload) - (len(data) - MAX_DOCUMENT_BYTES))]
            data = orjson.dumps(seg.to_dict())
        sent_at = seg.end + rng.uniform(1e-5, 1e-4)
        self._emit(sent_at, data)
        self.last_end = max(self.last_end, sent_at)

    def _stream(self, seg: _Node) -> None:
        threshold = self.config.stream_threshold
        nodes: list[_Node] = []
        stack = list(seg.children)
        while stack:
            node = stack.pop()
            nodes.append(node)
            stack.extend(node.children)
        if len(nodes) <= threshold:
            return
        starts = sorted(node.start for node in nodes)
        streamed = 0
        for node in sorted(nodes, key=lambda n: n.end):
            now = node.end
            # The SDK's counter: every subsegment added so far, minus one per streamed subtree.
            if bisect_right(starts, now) - streamed > threshold:
                streamed += self._stream_ready(seg, now)

    def _stream_ready(self, root: _Node, now: float) -> int:
        """``DefaultStreaming.stream`` at time ``now``; returns the number of subtrees sent."""
        sent = 0

        def visit(node: _Node) -> bool:
            nonlocal sent
            present = [child for child in node.children if child.start <= now]
            ready = [child for child in present if visit(child)]
            if len(ready) == len(present) and node.end <= now:
                return True
            if ready:
                for child in ready:
                    self._emit(now + 1e-5 * (sent + 1), orjson.dumps(child.to_dict()))
                    sent += 1
                ready_ids = {id(child) for child in ready}
                node.children = [child for child in node.children if id(child) not in ready_ids]
            return False

        visit(root)
        return sent

    # -- the services -------------------------------------------------------------------------

    def trace(self, start: float) -> float:
        """Builds and sends one trace starting at ``start``; returns when it is over."""
        rng = self.rng
        self.trace_id = f"1-{int(start):08x}-{rng.getrandbits(96):024x}"
        self.order_id = f"ord_{rng.getrandbits(48):012x}"
        self.last_end = start
        user = f"user-{rng.randrange(self.config.annotation_cardinality):05d}"
        request_id = self._request_id()
        octets = (rng.randint(1, 223), rng.randrange(256), rng.randrange(256), rng.randint(1, 254))
        client_ip = ".".join(map(str, octets))
        gateway = self._segment(
            "api-gateway",
            start,
            None,
            http={
                "request": {
                    "url": "https://shop.example.com/prod/checkout",
                    "method": "POST",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                    "client_ip": client_ip,
                    "x_forwarded_for": True,
                }
            },
            aws={
                "api_gateway": {
                    "account_id": _ACCOUNT,
                    "rest_api_id": "k3x9q2m7p1",
                    "stage": "prod",
                    "request_id": request_id,
                }
            },
        )
        gateway.tail["origin"] = "AWS::ApiGateway::Stage"
        gateway.tail["resource_arn"] = (
            f"arn:aws:apigateway:{_REGION}::/restapis/k3x9q2m7p1/stages/prod"
        )
        invoke = self._sub(
            gateway,
            "Lambda",
            "aws",
            start + rng.uniform(5e-4, 3e-3),
            http={"response": {"status": 200}},
            aws={
                "function_name": "order-service",
                "region": _REGION,
                "operation": "Invoke",
                "resource_names": ["order-service"],
            },
        )
        cold = rng.random() < 0.05
        order_start = invoke.start + (rng.uniform(0.15, 0.6) if cold else rng.uniform(2e-3, 2e-2))
        order_end, status = self._order_service(invoke.head["id"], order_start, user, client_ip)
        invoke_end = self._close(invoke, order_end + rng.uniform(5e-4, 3e-3))
        gateway.head["http"]["response"] = {
            "status": status,
            "content_length": rng.randint(60, 900),
        }
        _flags(gateway.tail, status)
        self.statuses[self.trace_id] = status
        self._close(gateway, invoke_end + rng.uniform(3e-4, 2e-3))
        self._send_segment(gateway)
        return self.last_end

    def _order_service(
        self, parent_id: str, start: float, user: str, client_ip: str
    ) -> tuple[float, int]:
        rng = self.rng
        config = self.config
        annotations: dict[str, Any] = {
            "order_id": self.order_id,
            "customer_tier": _TIERS[rng.randrange(len(_TIERS))],
            "customer_id": f"cust-{rng.randrange(config.annotation_cardinality):05d}",
            "cart_items": rng.randint(1, 9),
            "amount": round(rng.uniform(5.0, 900.0), 2),
        }
        seg = self._segment(
            "order-service",
            start,
            parent_id,
            annotations=annotations,
            aws={"xray": _SDK},
        )
        seg.tail["user"] = user
        seg.tail["service"] = _SERVICE
        seg.tail["origin"] = "AWS::Lambda::Function"
        seg.tail["resource_arn"] = f"arn:aws:lambda:{_REGION}:{_ACCOUNT}:function:order-service"

        before = (config.fanout + 1) // 2
        t = self._chains(seg, start + rng.uniform(1e-4, 8e-4), before)

        # Payment: Stripe inside a custom subsegment, so a streamed Stripe call names a still-open
        # subsegment as its parent.
        payment = self._sub(
            seg, "process_payment", "local", t, annotations={"provider": "stripe", "attempt": 1}
        )
        t = payment.start + rng.uniform(1e-4, 6e-4)
        roll = rng.random()
        outcome = "ok"
        if roll < config.fault_rate:
            outcome = "fault"
        elif roll < config.fault_rate + config.error_rate:
            outcome = "error"
        elif roll < config.fault_rate + config.error_rate + config.throttle_rate:
            outcome = "throttle"
        failure_id = None
        if outcome == "throttle":
            t = self._stripe(payment, t, 429, "stripe.error.RateLimitError", "Too many requests")[0]
            t += rng.uniform(0.05, 0.2)  # back-off, then the retry succeeds
            t = self._stripe(payment, t, 200)[0]
        elif outcome == "error":
            t, failure_id = self._stripe(
                payment, t, 402, "stripe.error.CardError", "Your card was declined."
            )
        elif outcome == "fault":
            status = rng.choice((500, 502, 503))
            t, failure_id = self._stripe(
                payment, t, status, "stripe.error.APIError", "An unknown error occurred"
            )
        else:
            t = self._stripe(payment, t, 200)[0]
        if failure_id is not None:
            # The exception propagates out of the custom subsegment: the SDK records it again as a
            # string back-reference to the first record (and always sets fault).
            payment.tail["fault"] = True
            payment.tail["cause"] = failure_id
        t = self._close(payment, t + rng.uniform(1e-4, 1e-3))

        if outcome in ("error", "fault"):
            status = 402 if outcome == "error" else 502
            annotations["payment_status"] = "declined" if outcome == "error" else "failed"
            _flags(seg.tail, status)
            t = self._chains(seg, t + rng.uniform(1e-4, 5e-4), config.fanout - before)
            self._close(seg, t + rng.uniform(2e-4, 1e-3))
            self._send_segment(seg)
            return seg.end, status
        annotations["payment_status"] = "captured"

        call = self._sub(
            seg,
            "inventory-service",
            "remote",
            t + rng.uniform(1e-4, 5e-4),
            http={
                "request": {
                    "url": "http://inventory-service.checkout.local:8080/reserve",
                    "method": "POST",
                    "traced": True,
                }
            },
        )
        vanished = rng.random() < config.vanish_rate
        if vanished:
            self.vanished.append(self.trace_id)
            # The inventory task is lost: the call returns, but its documents never arrive.
            inventory_end = call.start + rng.uniform(0.02, 0.08)
        else:
            inventory_end = self._inventory_service(
                call.head["id"], call.start + rng.uniform(5e-4, 2e-3), client_ip
            )
        call.head["http"]["response"] = {"status": 200, "content_length": rng.randint(40, 400)}
        t = self._close(call, inventory_end + rng.uniform(5e-4, 2e-3))

        if not vanished:
            sns = self._sub(
                seg,
                "SNS",
                "aws",
                t + rng.uniform(1e-4, 5e-4),
                http={"response": {"status": 200}},
                aws={
                    "operation": "Publish",
                    "region": _REGION,
                    "request_id": self._request_id(),
                    "retries": 0,
                    "topic_arn": f"arn:aws:sns:{_REGION}:{_ACCOUNT}:order-events",
                },
            )
            t = self._close(sns, sns.start + rng.uniform(0.012, 0.045))
            self._notification_service(sns.head["id"], sns.start + rng.uniform(0.05, 0.4))

        t = self._chains(seg, t + rng.uniform(1e-4, 5e-4), config.fanout - before)
        self._close(seg, t + rng.uniform(2e-4, 1e-3))
        self._send_segment(seg)
        return seg.end, 200

    def _stripe(
        self,
        parent: _Node,
        start: float,
        status: int,
        exc_type: str = "",
        message: str = "",
    ) -> tuple[float, str | None]:
        rng = self.rng
        call = self._sub(
            parent,
            "api.stripe.com",
            "remote",
            start,
            http={
                "request": {"url": "https://api.stripe.com/v1/charges", "method": "POST"},
                "response": {"status": status, "content_length": rng.randint(300, 2500)},
            },
        )
        _flags(call.tail, status)
        exc_id = None
        if exc_type:
            call.tail["cause"], exc_id = self._cause(exc_type, message, remote=True)
        end = self._close(call, start + rng.uniform(0.12, 0.45))
        return end, exc_id

    def _inventory_service(self, parent_id: str, start: float, client_ip: str) -> float:
        rng = self.rng
        config = self.config
        seg = self._segment(
            "inventory-service",
            start,
            parent_id,
            http={
                "request": {
                    "url": "http://inventory-service.checkout.local:8080/reserve",
                    "method": "POST",
                    "user_agent": "python-requests/2.31.0",
                    "client_ip": f"10.0.{rng.randrange(256)}.{rng.randint(1, 254)}",
                }
            },
            annotations={
                "order_id": self.order_id,
                "warehouse": rng.choice(("iad-1", "iad-2", "pdx-1")),
            },
            aws={
                "ecs": {"container": f"inventory-{rng.getrandbits(16):04x}"},
                "xray": _SDK,
            },
        )
        seg.tail["service"] = _SERVICE
        seg.tail["origin"] = "AWS::ECS::Fargate"

        before = (config.fanout + 1) // 2
        t = self._chains(seg, start + rng.uniform(1e-4, 6e-4), before)
        reserve = self._sub(
            seg, "reserve_stock", "local", t, metadata={"default": {"skus": rng.randint(1, 9)}}
        )
        t = self._sql(reserve, reserve.start + rng.uniform(5e-5, 3e-4), "SELECT")
        conditional_failure = rng.random() < config.error_rate
        t = self._dynamodb(reserve, t + rng.uniform(5e-5, 3e-4), conditional_failure)
        if conditional_failure:
            t = self._dynamodb(reserve, t + rng.uniform(2e-3, 1e-2), False)
        t = self._sql(reserve, t + rng.uniform(5e-5, 3e-4), "UPDATE")
        t = self._close(reserve, t + rng.uniform(5e-5, 5e-4))
        t = self._chains(seg, t + rng.uniform(1e-4, 5e-4), config.fanout - before)
        seg.head["http"]["response"] = {"status": 200, "content_length": rng.randint(40, 400)}
        self._close(seg, t + rng.uniform(2e-4, 1e-3))
        self._send_segment(seg)
        return seg.end

    def _sql(self, parent: _Node, start: float, verb: str) -> float:
        query = (
            "SELECT quantity FROM stock WHERE sku = ANY(%s)"
            if verb == "SELECT"
            else "UPDATE orders SET status = %s WHERE order_id = %s"
        )
        call = self._sub(
            parent,
            "orders-db",
            "remote",
            start,
            sql={
                "url": "orders-db.c9akq2xb7lzm.us-east-1.rds.amazonaws.com:5432/orders",
                "database_type": "PostgreSQL",
                "database_version": "15.4",
                "driver_version": "Psycopg 2.9.9",
                "user": "orders_app",
                "sanitized_query": query,
            },
        )
        return self._close(call, start + self.rng.uniform(1.5e-3, 1.5e-2))

    def _dynamodb(self, parent: _Node, start: float, fail: bool) -> float:
        rng = self.rng
        status = 400 if fail else 200
        call = self._sub(
            parent,
            "DynamoDB",
            "aws",
            start,
            http={"response": {"status": status, "content_length": rng.randint(2, 120)}},
            aws={
                "operation": "UpdateItem",
                "region": _REGION,
                "request_id": self._request_id().replace("-", "").upper()[:32],
                "retries": 0,
                "table_name": "inventory",
            },
        )
        _flags(call.tail, status)
        if fail:
            call.tail["cause"] = self._cause(
                "ConditionalCheckFailedException", "The conditional request failed", remote=True
            )[0]
        return self._close(call, start + rng.uniform(4e-3, 2.5e-2))

    def _notification_service(self, parent_id: str, start: float) -> None:
        rng = self.rng
        config = self.config
        seg = self._segment(
            "notification-service",
            start,
            parent_id,
            annotations={"order_id": self.order_id, "channel": "email"},
            aws={"xray": _SDK},
        )
        seg.tail["service"] = _SERVICE
        seg.tail["origin"] = "AWS::Lambda::Function"
        seg.tail["resource_arn"] = (
            f"arn:aws:lambda:{_REGION}:{_ACCOUNT}:function:notification-service"
        )
        before = (config.fanout + 1) // 2
        t = self._chains(seg, start + rng.uniform(1e-4, 6e-4), before)
        render = self._sub(
            seg,
            "render_email",
            "local",
            t,
            metadata={"default": {"template": "order-confirmation", "locale": "en-US"}},
        )
        t = self._close(render, t + rng.uniform(1e-3, 8e-3))
        ses = self._sub(
            seg,
            "SES",
            "aws",
            t + rng.uniform(1e-4, 5e-4),
            http={"response": {"status": 200}},
            aws={
                "operation": "SendEmail",
                "region": _REGION,
                "request_id": self._request_id(),
                "retries": 0,
            },
        )
        t = self._close(ses, ses.start + rng.uniform(0.03, 0.12))
        t = self._chains(seg, t + rng.uniform(1e-4, 5e-4), config.fanout - before)
        self._close(seg, t + rng.uniform(2e-4, 1e-3))
        self._send_segment(seg)

    def run(self) -> list[bytes]:
        config = self.config
        rng = self.rng
        # A closed loop: each of `concurrency` clients starts its next request when the previous
        # one is over (plus a short think time), so that many traces are in flight at once.
        clients = [
            (config.epoch + rng.uniform(0.0, 0.5), slot) for slot in range(config.concurrency)
        ]
        heapq.heapify(clients)
        for _ in range(config.traces):
            free_at, slot = heapq.heappop(clients)
            done = self.trace(free_at + rng.expovariate(20.0))
            heapq.heappush(clients, (done, slot))
        self.out.sort()
        return [data for _, _, data in self.out]


def generate(config: WorkloadConfig) -> list[bytes]:
    """Generates the documents of ``config.traces`` checkout traces.

    Arguments:
        config: what to generate; the same configuration always gives the same bytes.

    Returns:
        The documents in send order, each one compact JSON document (a segment or an independent
        subsegment), with the documents of concurrent traces interleaved.
    """
    return _Generator(config).run()


@dataclass(frozen=True)
class GroundTruth:
    """What :func:`generate_with_truth` decided for each trace, for checking analyses against.

    Arguments:
        vanished: ids of the traces whose order stopped after payment (``vanish_rate``): the
            inventory call was made and answered, but inventory-service never sent its
            documents and no notification followed; the client still got 200. In start order.
        statuses: the HTTP status api-gateway answered, per trace id.
    """

    vanished: tuple[str, ...]
    statuses: dict[str, int]


def generate_with_truth(config: WorkloadConfig) -> tuple[list[bytes], GroundTruth]:
    """:func:`generate`, plus what was decided for each trace.

    Arguments:
        config: what to generate.

    Returns:
        The same documents as ``generate(config)``, and the :class:`GroundTruth`.
    """
    generator = _Generator(config)
    docs = generator.run()
    return docs, GroundTruth(vanished=tuple(generator.vanished), statuses=generator.statuses)


def to_ndjson(docs: Iterable[bytes], *, daemon_headers: bool = False) -> bytes:
    """Joins documents into newline-delimited JSON.

    Arguments:
        docs: compact JSON documents (they never contain a raw newline).
        daemon_headers: put ``DAEMON_HEADER`` on its own line before each document, as in a
            capture of daemon datagrams.

    Returns:
        One document per line (after its header line if asked), each line ending in ``\\n``.
    """
    if daemon_headers:
        prefix = DAEMON_HEADER + b"\n"
        return b"".join(prefix + doc + b"\n" for doc in docs)
    return b"".join(doc + b"\n" for doc in docs)


def to_datagrams(docs: Iterable[bytes]) -> list[bytes]:
    """Frames each document as the UDP datagram an SDK sends to the daemon (spec §2.2).

    Arguments:
        docs: JSON documents.

    Returns:
        ``DAEMON_HEADER + b"\\n" + doc`` for each document, in order.
    """
    prefix = DAEMON_HEADER + b"\n"
    return [prefix + doc for doc in docs]


def to_put_trace_segments(docs: Iterable[bytes]) -> bytes:
    """Wraps documents in a ``PutTraceSegments`` request body.

    Arguments:
        docs: UTF-8 JSON documents.

    Returns:
        ``{"TraceSegmentDocuments": [<document as a JSON string>, ...]}`` as JSON bytes.
    """
    return orjson.dumps({"TraceSegmentDocuments": [doc.decode() for doc in docs]})


def to_batch_get_traces(docs: Iterable[bytes]) -> bytes:
    """Groups raw documents by trace into a ``BatchGetTraces`` response body.

    This is the unprocessed shape a store that keeps uploads verbatim returns (as moto does):
    every document, duplicates and in-progress versions included, in send order; it is the input
    of the "re-assemble from an export" benchmark, not the output of assembly.

    Arguments:
        docs: JSON documents (segments, independent subsegments, or arrays of them; an array is
            filed under its first element's trace and id).

    Returns:
        ``{"Traces": [{"Id", "Duration", "LimitExceeded": false, "Segments": [{"Id",
        "Document"}]}]}`` as JSON bytes, traces sorted by id. ``Duration`` is the latest
        ``end_time`` minus the earliest ``start_time`` of the trace's documents (0 if none ends).
    """
    traces: dict[str, dict[str, Any]] = {}
    for doc in docs:
        value = orjson.loads(doc)
        top = value[0] if isinstance(value, list) else value
        trace_id = top["trace_id"]
        trace = traces.get(trace_id)
        if trace is None:
            trace = traces[trace_id] = {"segments": [], "start": None, "end": None}
        trace["segments"].append({"Id": top["id"], "Document": doc.decode()})
        for item in value if isinstance(value, list) else (value,):
            start = item.get("start_time")
            end = item.get("end_time")
            if start is not None and (trace["start"] is None or start < trace["start"]):
                trace["start"] = start
            if end is not None and (trace["end"] is None or end > trace["end"]):
                trace["end"] = end
    out = []
    for trace_id in sorted(traces):
        trace = traces[trace_id]
        duration = 0.0
        if trace["end"] is not None and trace["start"] is not None:
            duration = round(trace["end"] - trace["start"], 6)
        out.append(
            {
                "Id": trace_id,
                "Duration": duration,
                "LimitExceeded": False,
                "Segments": trace["segments"],
            }
        )
    return orjson.dumps({"Traces": out})
