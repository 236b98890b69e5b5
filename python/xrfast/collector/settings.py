"""The collector's settings: defaults, then a TOML file, then ``XRFAST_COLLECTOR_*`` environment
variables, then command-line flags (each overrides the one before).

Every setting has one name used everywhere: ``udp = "127.0.0.1:2000"`` in the file (top level or
under ``[collector]``), ``XRFAST_COLLECTOR_UDP=127.0.0.1:2000`` in the environment,
``--udp 127.0.0.1:2000`` on the command line (underscores become dashes).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

__all__ = ["CollectorSettings", "SettingsError", "load_settings", "parse_address"]

ENV_PREFIX = "XRFAST_COLLECTOR_"


class SettingsError(ValueError):
    """A setting is missing, unknown or out of range; the message names it and where it came
    from."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/xrfast/collector`` (``~/.local/share/xrfast/collector``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "xrfast" / "collector"


@dataclass
class CollectorSettings:
    """Everything the collector can be told (docs/collector.md, "Configuration").

    Addresses are ``HOST:PORT`` strings (``[::1]:2000`` for IPv6); sizes are bytes; times are
    seconds.
    """

    #: UDP address for segment datagrams (the daemon's); port 0 picks a free port.
    udp: str = "127.0.0.1:2000"
    #: TCP address of the HTTP server: the X-Ray API, the sampling proxy paths, ``/metrics``,
    #: ``/health``. The daemon serves its proxy on the same port as UDP.
    http: str = "127.0.0.1:2000"
    #: Where the SQLite store lives (created if missing).
    data_dir: str = field(default_factory=lambda: str(default_data_dir()))
    #: Keep traces this long (X-Ray keeps 30 days); older ones are purged periodically.
    retention_seconds: float = 30 * 86400.0
    #: Keep raw ingest batches this long after their traces were summarised.
    ingest_log_seconds: float = 3600.0
    #: Listening on an address other than loopback needs this and a ``token``.
    allow_remote: bool = False
    #: Bearer token every HTTP request must carry (``Authorization: Bearer T`` or
    #: ``X-Xrfast-Token: T``); required with ``allow_remote``. Empty: no check.
    token: str = ""
    #: Region and account used in ARNs (groups, sampling rules).
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: Largest datagram accepted, header included.
    max_datagram_bytes: int = 65536
    #: Documents (and bytes) the UDP queue holds before datagrams are dropped.
    queue_datagrams: int = 200_000
    queue_bytes: int = 128 << 20
    #: Kernel receive buffer asked for.
    receive_buffer_bytes: int = 16 << 20
    #: Largest HTTP request body; larger ones get 413.
    max_request_bytes: int = 8 << 20
    #: Most documents in one PutTraceSegments call; more is InvalidRequestException.
    max_batch_documents: int = 10_000
    #: Largest document accepted (X-Ray: 64 KB).
    max_document_bytes: int = 65536
    #: A complete trace is stored this long after its last document.
    trace_idle_timeout: float = 2.0
    #: An incomplete trace is stored (as partial) this long after its last document.
    trace_incomplete_timeout: float = 30.0
    #: Traces held open before the oldest is stored early.
    max_open_traces: int = 100_000
    #: Store open traces (as partial, merged later) at least this often, so a restart replays
    #: a bounded ingest log.
    checkpoint_seconds: float = 60.0
    #: How often completed traces are written.
    flush_seconds: float = 0.5
    #: How often retention runs.
    purge_seconds: float = 300.0
    #: Summaries per GetTraceSummaries page.
    page_size: int = 100
    #: Most stored traces one GetTraceSummaries call scans (the rest is behind NextToken).
    max_scan_traces: int = 100_000
    #: Most traces one graph or time-series call analyses; more is ThrottledException.
    max_graph_traces: int = 200_000
    #: SQLite ``synchronous``: ``"normal"`` survives a killed process, ``"full"`` also a power
    #: loss (each commit waits for the disk).
    sync: str = "normal"
    #: Logging level name.
    log_level: str = "INFO"

    def validate(self) -> None:
        """Checks ranges and the remote-listening rule.

        Raises:
            SettingsError: the first problem found.
        """
        for name in ("udp", "http"):
            parse_address(getattr(self, name), name)
        positive = (
            "max_datagram_bytes",
            "queue_datagrams",
            "queue_bytes",
            "max_request_bytes",
            "max_batch_documents",
            "max_document_bytes",
            "max_open_traces",
            "page_size",
            "max_scan_traces",
            "max_graph_traces",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in (
            "retention_seconds",
            "ingest_log_seconds",
            "trace_idle_timeout",
            "trace_incomplete_timeout",
            "checkpoint_seconds",
            "flush_seconds",
            "purge_seconds",
        ):
            if not getattr(self, name) > 0:
                raise SettingsError(f"{name} must be a positive number of seconds")
        if self.sync not in ("normal", "full"):
            raise SettingsError(f"sync must be 'normal' or 'full', not {self.sync!r}")
        remote = [
            name
            for name in ("udp", "http")
            if not is_loopback(parse_address(getattr(self, name), name)[0])
        ]
        if remote and not self.allow_remote:
            raise SettingsError(
                f"{' and '.join(remote)} listen(s) beyond loopback: pass --allow-remote and a "
                "--token (or XRFAST_COLLECTOR_TOKEN) to do that"
            )
        if remote and not self.token:
            raise SettingsError("listening beyond loopback needs a token (--token)")


def parse_address(text: str, what: str = "address") -> tuple[str, int]:
    """``"HOST:PORT"`` (or ``"[v6]:PORT"``) → ``(host, port)``.

    Raises:
        SettingsError: not in that form, or the port is out of range.
    """
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(f"{what} must be HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names the loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _coerce(name: str, value: Any, kind: Any, source: str) -> Any:
    kind_name = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind_name == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if kind_name == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            return int(value)
        if kind_name == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(
            f"{name} from {source} must be of type {kind_name}, not {value!r}"
        ) from None


def _apply(settings: CollectorSettings, values: Mapping[str, Any], source: str) -> None:
    known = {f.name: f.type for f in fields(CollectorSettings)}
    for key, value in values.items():
        name = key.removeprefix(ENV_PREFIX).replace("-", "_").lower()
        if name not in known:
            raise SettingsError(f"unknown setting {key!r} in {source}")
        setattr(settings, name, _coerce(name, value, known[name], source))


def load_settings(
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> CollectorSettings:
    """Defaults, then ``config_file``, then the environment, then ``overrides`` (flags).

    Arguments:
        config_file: a TOML file: settings at the top level or in a ``[collector]`` table.
        environ: the environment (``os.environ`` when ``None``); ``XRFAST_COLLECTOR_<NAME>``
            variables are read, ``XRFAST_COLLECTOR_CONFIG`` names a file when ``config_file``
            is ``None``.
        overrides: settings given explicitly (``None`` values are ignored).

    Returns:
        The validated settings.

    Raises:
        SettingsError: a file cannot be read or parsed, a name is unknown, a value has the wrong
            type or is out of range.
    """
    environ = os.environ if environ is None else environ
    settings = CollectorSettings()
    config_file = config_file or environ.get(ENV_PREFIX + "CONFIG") or None
    if config_file:
        try:
            with open(config_file, "rb") as f:
                document = tomllib.load(f)
        except OSError as e:
            raise SettingsError(f"cannot read the config file {config_file}: {e}") from None
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"the config file {config_file} is not TOML: {e}") from None
        table = document.get("collector", document)
        if not isinstance(table, dict):
            raise SettingsError(f"[collector] in {config_file} must be a table")
        _apply(settings, table, str(config_file))
    env_values = {
        key: value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG"
    }
    _apply(settings, env_values, "the environment")
    _apply(settings, {k: v for k, v in (overrides or {}).items() if v is not None}, "the flags")
    settings.validate()
    return settings


def replace(settings: CollectorSettings, **changes: Any) -> CollectorSettings:
    """A copy of ``settings`` with ``changes``, validated."""
    copy = dataclasses.replace(settings, **changes)
    copy.validate()
    return copy
