"""The daemon socket under load on loopback: every datagram is accounted for (docs/collector.md,
"Limits and counters")."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from xrfast._core import DaemonSocket
from xrfast.collector.ingest import kernel_drops

HEADER = b'{"format":"json","version":1}\n'


def settle(udp: DaemonSocket) -> dict[str, int]:
    """The counters once nothing has arrived for a while."""
    last = udp.stats
    while True:
        time.sleep(0.2)
        now = udp.stats
        if now["received"] == last["received"]:
            return dict(now)
        last = now


def test_a_bounded_load_is_accounted_for() -> None:
    sent = 20_000
    with DaemonSocket("127.0.0.1", 0, queue_datagrams=4_000) as udp:
        drained: list[bytes] = []
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set():
                drained.extend(udp.drain(0.05))

        reader = threading.Thread(target=drain)
        reader.start()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for n in range(sent):
            body = b'{"n":%d}' % n
            # One datagram in fifty is malformed, one in a hundred has no body.
            datagram = body if n % 50 == 0 else HEADER if n % 100 == 1 else HEADER + body
            sender.sendto(datagram, udp.address)
        # Every datagram ends up received or dropped by the kernel (its buffer full): wait for
        # that (bounded), then stop the drain.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            dropped_by_kernel = kernel_drops(udp.address)
            if udp.stats["received"] + (dropped_by_kernel or 0) >= sent:
                break
            time.sleep(0.05)
        stats = settle(udp)
        stop.set()
        reader.join()
        drained.extend(udp.drain(0))
        dropped_by_kernel = kernel_drops(udp.address)
    assert stats["received"] == stats["accepted"] + stats["rejected"] + stats["dropped"]
    assert stats["rejected"] == stats["rejected_header"] + stats["rejected_empty"]
    assert len(drained) == stats["accepted"]
    assert len(set(drained)) == len(drained)
    # What never reached the reader was dropped by the kernel (its buffer was full).
    if dropped_by_kernel is not None:
        assert sent - stats["received"] == dropped_by_kernel
    else:  # pragma: no cover - not Linux
        assert stats["received"] <= sent


def test_a_full_queue_drops_and_counts() -> None:
    with DaemonSocket("127.0.0.1", 0, queue_datagrams=10, queue_bytes=1 << 20) as udp:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for n in range(50):
            sender.sendto(HEADER + b'{"n":%d}' % n, udp.address)
        stats = settle(udp)
        assert stats["accepted"] == 10
        assert stats["dropped"] == stats["received"] - 10
        assert stats["queued"] == 10
        assert [d for d in udp.drain(0)] == [b'{"n":%d}' % n for n in range(10)]


def test_limits_and_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="queue_datagrams must be at least 1"):
        DaemonSocket("127.0.0.1", 0, queue_datagrams=0)
    with pytest.raises(OSError, match="cannot bind UDP 203.0.113.1:0"):
        DaemonSocket("203.0.113.1", 0)
    with DaemonSocket("127.0.0.1", 0, max_datagram_bytes=64) as udp:
        with pytest.raises(ValueError, match="timeout"):
            udp.drain(-1)
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(HEADER + b"x" * 100, udp.address)
        assert settle(udp)["rejected_too_big"] == 1
    assert udp.closed and udp.drain(1.0) == []
    assert "closed" in repr(udp)
