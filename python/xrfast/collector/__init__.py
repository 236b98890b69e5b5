"""A local X-Ray (``xrfast collect``): real SDKs send segments to it, the real ``boto3`` X-Ray
client queries it (docs/collector.md).

* :class:`Collector` — the daemon's UDP ingest (a Rust reader thread) and TCP proxy paths
  (``/GetSamplingRules``, ``/SamplingTargets``), the X-Ray REST API, ``/metrics`` and
  ``/health``, over a durable SQLite store; embeddable (``with Collector(...) as c:``).
* :func:`load_settings` — settings from a TOML file, ``XRFAST_COLLECTOR_*`` variables and flags.

The server side (aiohttp) is imported on first use of :class:`Collector`, so reading settings
(as ``xrfast --help`` does) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xrfast.collector.settings import CollectorSettings, SettingsError, load_settings

if TYPE_CHECKING:
    from xrfast.collector.operations import RequestError
    from xrfast.collector.server import Collector

__all__ = ["Collector", "CollectorSettings", "RequestError", "SettingsError", "load_settings"]


def __getattr__(name: str) -> Any:
    if name == "Collector":
        from xrfast.collector.server import Collector

        return Collector
    if name == "RequestError":
        from xrfast.collector.operations import RequestError

        return RequestError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
