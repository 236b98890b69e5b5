"""A local X-Ray (``xrfast collect``): real SDKs send segments to it, the real ``boto3`` X-Ray
client queries it (docs/collector.md).

* :class:`Collector` — the daemon's UDP ingest (a Rust reader thread) and TCP proxy paths
  (``/GetSamplingRules``, ``/SamplingTargets``), the X-Ray REST API, ``/metrics`` and
  ``/health``, over a durable SQLite store; embeddable (``with Collector(...) as c:``).
* :func:`load_settings` — settings from a TOML file, ``XRFAST_COLLECTOR_*`` variables and flags.
"""

from xrfast.collector.operations import RequestError
from xrfast.collector.server import Collector
from xrfast.collector.settings import CollectorSettings, SettingsError, load_settings

__all__ = ["Collector", "CollectorSettings", "RequestError", "SettingsError", "load_settings"]
