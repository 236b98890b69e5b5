"""The collector: UDP ingest, the HTTP server (aiohttp) and the store, started and stopped as one.

>>> from xrfast.collector import Collector
>>> with Collector(udp="127.0.0.1:0", http="127.0.0.1:0", data_dir="/tmp/xr") as c:  # doctest: +SKIP
...     boto3.client("xray", endpoint_url=c.endpoint_url, ...)
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from xrfast._core import DaemonSocket
from xrfast.collector.ingest import Pipeline, kernel_drops
from xrfast.collector.metrics import GraphMetrics, render
from xrfast.collector.operations import Operations, RequestError
from xrfast.collector.settings import CollectorSettings, load_settings, parse_address
from xrfast.collector.store import Store

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Collector"]

log = logging.getLogger("xrfast.collector")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Attempts at finding a port free for both UDP and TCP when both ask for port 0.
PAIR_ATTEMPTS = 32


def error_response(code: str, message: str, status: int) -> web.Response:
    """An error as botocore's rest-json parser reads it: the code in ``x-amzn-ErrorType`` and
    ``__type``, the text in ``message`` (and ``Message``, the modeled member)."""
    body = orjson.dumps({"__type": code, "message": message, "Message": message})
    return web.Response(
        body=body,
        status=status,
        content_type="application/json",
        headers={"x-amzn-ErrorType": code},
    )


def json_response(value: Any) -> web.Response:
    """A 200 with ``value`` as JSON."""
    return web.Response(body=orjson.dumps(value), content_type="application/json")


class Collector:
    """A local X-Ray: the daemon's UDP ingest and TCP proxy paths, the X-Ray API, a SQLite
    store, ``/metrics`` and ``/health`` (docs/collector.md).

    Arguments:
        settings: the settings; when ``None``, ``overrides`` are applied to the defaults (the
            environment is not read: :func:`~xrfast.collector.load_settings` does that).
        overrides: settings by name, e.g. ``udp="127.0.0.1:0"``, ``data_dir="..."``.

    Raises:
        xrfast.collector.SettingsError: an override is unknown or out of range.
    """

    def __init__(self, settings: CollectorSettings | None = None, **overrides: Any) -> None:
        if settings is None:
            settings = load_settings(environ={}, overrides=overrides)
        elif overrides:
            raise TypeError("pass either settings or overrides, not both")
        self.settings = settings
        self.store: Store | None = None
        self.udp: DaemonSocket | None = None
        self.pipeline: Pipeline | None = None
        self.operations: Operations | None = None
        self.graph = GraphMetrics()
        self._tcp: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="xrfast-api")
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # --- addresses -------------------------------------------------------------------------------

    @property
    def udp_address(self) -> tuple[str, int]:
        """``(host, port)`` of the UDP socket."""
        if self.udp is None:
            raise RuntimeError("the collector is not started")
        return self.udp.address

    @property
    def http_address(self) -> tuple[str, int]:
        """``(host, port)`` of the HTTP server."""
        if self._tcp is None:
            raise RuntimeError("the collector is not started")
        host, port = self._tcp.getsockname()[:2]
        return str(host), int(port)

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` for ``boto3.client("xray", endpoint_url=...)``."""
        host, port = self.http_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def daemon_address(self) -> str:
        """What an SDK's ``AWS_XRAY_DAEMON_ADDRESS`` should say."""
        (uh, up), (th, tp) = self.udp_address, self.http_address
        return f"{uh}:{up}" if (uh, up) == (th, tp) else f"tcp:{th}:{tp} udp:{uh}:{up}"

    # --- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _bind(self) -> None:
        s = self.settings
        udp_host, udp_port = parse_address(s.udp, "udp")
        http_host, http_port = parse_address(s.http, "http")
        udp_options = {
            "max_datagram_bytes": s.max_datagram_bytes,
            "queue_datagrams": s.queue_datagrams,
            "queue_bytes": s.queue_bytes,
            "receive_buffer_bytes": s.receive_buffer_bytes,
        }
        paired = udp_port == 0 and http_port == 0 and udp_host == http_host
        for _ in range(PAIR_ATTEMPTS if paired else 1):
            self.udp = DaemonSocket(udp_host, udp_port, **udp_options)
            port = self.udp.address[1] if paired else http_port
            try:
                self._tcp = _listen(http_host, port)
                return
            except OSError:
                self.udp.close()
                self.udp = None
                if not paired:
                    raise
        raise OSError(f"found no port free for both UDP and TCP on {udp_host}")

    def start(self) -> None:
        """Opens the store (replaying what was not summarised), binds the sockets, and serves
        in background threads until :meth:`stop`.

        Raises:
            OSError: an address cannot be bound or the data directory cannot be created.
        """
        s = self.settings
        self.store = Store(s.data_dir, sync=s.sync)
        self.store.start_checkpoints()
        try:
            self._bind()
            self.pipeline = Pipeline(s, self.store, self.udp, on_traces=self.graph.add)
            self.operations = Operations(s, self.store, self.pipeline)
            self.pipeline.start()
        except BaseException:
            self._close_partial()
            raise
        self._thread = threading.Thread(target=self._serve, name="xrfast-http", daemon=True)
        self._thread.start()
        self._started.wait()
        if self._start_error is not None:
            self.stop()
            raise self._start_error
        log.info(
            "xrfast collector: UDP %s:%d, HTTP %s, store %s",
            *self.udp_address,
            self.endpoint_url,
            self.store.path,
        )

    def _close_partial(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self._tcp is not None:
            self._tcp.close()
        if self.store is not None:
            self.store.close()

    def stop(self) -> None:
        """Stops serving, writes everything received (open traces are stored as they are) and
        closes the store. Idempotent."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                future.result(timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=30)
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        self._executor.shutdown(wait=True)
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._tcp is not None:
            self._tcp.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_http())
        except BaseException as e:  # noqa: BLE001 - start() raises it in the caller's thread
            self._start_error = e
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _start_http(self) -> None:
        app = self.make_app()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        assert self._tcp is not None
        await web.SockSite(self._runner, self._tcp).start()

    # --- the HTTP application --------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp application (routes, auth, limits, errors)."""
        assert self.operations is not None
        app = web.Application(
            client_max_size=self.settings.max_request_bytes,
            middlewares=[self._middleware],
        )
        app.router.add_post("/TraceSegments", self._put_trace_segments)
        for path, operation in self.operations.handlers().items():
            app.router.add_post(path, self._operation(operation))
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        token = self.settings.token
        if token and request.path != "/health" and not _authorized(request, token):
            return error_response(
                "AccessDeniedException",
                "missing or wrong token: send 'Authorization: Bearer <token>' or "
                "'X-Xrfast-Token: <token>'",
                403,
            )
        try:
            return await handler(request)
        except RequestError as e:
            return error_response(e.code, e.message, e.status)
        except web.HTTPRequestEntityTooLarge:
            return error_response(
                "RequestEntityTooLargeException",
                f"the request body is larger than {self.settings.max_request_bytes} bytes "
                "(max_request_bytes)",
                413,
            )
        except web.HTTPNotFound:
            return error_response(
                "UnknownOperationException", f"no X-Ray operation at {request.path}", 404
            )
        except web.HTTPMethodNotAllowed:
            return error_response(
                "UnknownOperationException", f"{request.method} {request.path} is not served", 405
            )
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return error_response("InternalFailure", "the collector failed; see its log", 500)

    async def _read(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self.settings.max_request_bytes:
            raise web.HTTPRequestEntityTooLarge(
                max_size=self.settings.max_request_bytes, actual_size=length
            )
        return await request.read()

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _operation(self, operation: Callable[[dict[str, Any]], dict[str, Any]]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            raw = await self._read(request)
            try:
                body = orjson.loads(raw) if raw.strip() else {}
            except orjson.JSONDecodeError as e:
                raise RequestError(f"the request body is not JSON: {e}") from None
            if not isinstance(body, dict):
                raise RequestError("the request body must be a JSON object")
            return json_response(await self._run(operation, body))

        return handle

    async def _put_trace_segments(self, request: web.Request) -> web.StreamResponse:
        assert self.operations is not None and self.pipeline is not None
        body = await self._read(request)
        count = await self._run(self.operations.check_put_trace_segments, body)
        try:
            future = self.pipeline.put_trace_segments(body, count)
        except RuntimeError as e:
            raise RequestError(str(e), "ServiceUnavailableException", 503) from None
        unprocessed = await asyncio.wrap_future(future)
        return json_response({"UnprocessedTraceSegments": [u.to_dict() for u in unprocessed]})

    def stats(self) -> dict[str, Any]:
        """Every counter: ``udp``, ``assembler``, ``ingest`` and ``store``."""
        assert self.pipeline is not None and self.store is not None
        udp: dict[str, Any] | None = None
        if self.udp is not None:
            udp = dict(self.udp.stats)
            udp["kernel_dropped"] = kernel_drops(self.udp.address)
        return {
            "udp": udp,
            "assembler": dict(self.pipeline.assembler.stats),
            "ingest": vars(self.pipeline.counters).copy(),
            "store": self.store.counts(),
        }

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        def page() -> str:
            stats = self.stats()
            return render(graph=self.graph, **stats)

        text = await self._run(page)
        return web.Response(
            text=text,
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    async def _health(self, request: web.Request) -> web.StreamResponse:
        stats = await self._run(self.stats)
        writer_alive = self.pipeline is not None and self.pipeline.alive
        return web.Response(
            body=orjson.dumps({"status": "ok" if writer_alive else "failing", **stats}),
            status=200 if writer_alive else 503,
            content_type="application/json",
        )


def _authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("X-Xrfast-Token")
    if given is None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header[len("Bearer ") :]
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(512)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
