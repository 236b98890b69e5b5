"""``xrfast collect``: run the collector until SIGTERM or Ctrl-C.

Every setting of :class:`~xrfast.collector.CollectorSettings` is also a flag (``data_dir`` →
``--data-dir``); flags override ``XRFAST_COLLECTOR_*`` variables, which override the file
given by ``--config``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import fields
from types import FrameType

from rich.console import Console

from xrfast.collector.settings import CollectorSettings, SettingsError, load_settings

__all__ = ["SettingsError", "add_arguments", "run"]

#: One-line help per flag (the rest are documented in docs/collector.md).
HELP = {
    "udp": "UDP address for segment datagrams (default 127.0.0.1:2000)",
    "http": "TCP address of the X-Ray API and sampling proxy (default 127.0.0.1:2000)",
    "data_dir": "directory of the SQLite store (default ~/.local/share/xrfast/collector)",
    "retention_seconds": "keep traces this long (default 30 days)",
    "allow_remote": "allow listening beyond loopback (needs --token)",
    "token": "bearer token every HTTP request must carry",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` and one flag per setting."""
    parser.add_argument("--config", metavar="FILE", help="TOML file of settings")
    for f in fields(CollectorSettings):
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", default=None, help=HELP.get(f.name))
        else:
            parser.add_argument(
                flag, metavar=f.name.split("_")[-1].upper(), default=None, help=HELP.get(f.name)
            )


def run(args: argparse.Namespace, console: Console) -> int:
    """Serve until SIGTERM/SIGINT, then write everything received and exit 0.

    Raises:
        SettingsError: a setting is wrong (the command line reports it as a usage error).
    """
    from xrfast.collector.server import Collector  # aiohttp only when serving

    overrides = {f.name: getattr(args, f.name, None) for f in fields(CollectorSettings)}
    settings = load_settings(config_file=args.config, overrides=overrides)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    collector = Collector(settings)
    collector.start()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        logging.getLogger("xrfast.collector").info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        udp_host, udp_port = collector.udp_address
        console.print(
            f"xrfast collect: UDP {udp_host}:{udp_port}, HTTP {collector.endpoint_url} "
            f"(X-Ray API, /GetSamplingRules, /SamplingTargets, /metrics, /health), "
            f"store {settings.data_dir}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"AWS_XRAY_DAEMON_ADDRESS={collector.daemon_address}", highlight=False, soft_wrap=True
        )
        console.file.flush()
        while not stop.wait(0.5):
            pass
    finally:
        collector.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    console.print("xrfast collect: stopped, everything received is stored", highlight=False)
    return 0
