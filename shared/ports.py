"""Free ports for the servers that tests, scripts and meshes start on this machine.

A port the kernel hands out for ``bind(0)`` comes from its ephemeral range, the range it also
takes the local ports of outgoing connections from: between choosing such a port and binding it,
a process of the same mesh may connect to RabbitMQ or PostgreSQL from it, and the listener then
fails with "address in use" (seen in CI: the console's port held by intake's own connection).
So a port is drawn at random *below* the ephemeral range and checked with a strict bind (no
SO_REUSEADDR, so a port still in TIME_WAIT is passed over too). Several people testing on one
machine each draw their own; whoever binds a drawn port first keeps it, and the loser is told
which process holds it (``scripts.mesh.PortTaken``).
"""
from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10000  # below: the well-known and registered ports of local servers (5432, 5672, ...)
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_random = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for the local ports of outgoing connections (Linux; else its default)."""
    try:
        low, high = (int(part) for part in PORT_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` is used by no socket at all now (listening, connected or in TIME_WAIT)."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", below: int | None = None) -> int:
    """A free port of ``host`` outside the ephemeral range (and below ``below`` when given)."""
    top = ephemeral_range()[0] if below is None else min(below, ephemeral_range()[0])
    if top - LOWEST >= 1000:
        for _ in range(1000):
            port = _random.randrange(LOWEST, top)
            if bindable(port, host):
                return port
    with socket.socket() as sock:  # no room below the range: the kernel's choice, as a last resort
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
    if below is not None and chosen >= below:
        raise OSError(f"no free port below {below} on {host}")
    return chosen
