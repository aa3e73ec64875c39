"""Free local ports, picked by the kernel: one helper for the harness and its tests.

A port found free can be taken by another process before it is bound again (a small race the
callers accept: SIPp, recorders and tests retry or fail loudly on a bind error).
"""

from __future__ import annotations

import socket

__all__ = ["free_port", "port_free"]


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_free(host: str, port: int, kind: int = socket.SOCK_DGRAM) -> bool:
    """Can `port` on `host` be bound right now (UDP: SOCK_DGRAM, TCP: SOCK_STREAM)?"""
    with socket.socket(_family(host), kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1", *, kind: int | None = None, attempts: int = 50) -> int:
    """A port on `host` free right now for `kind` (SOCK_DGRAM or SOCK_STREAM), or for both UDP
    and TCP when `kind` is None (a SIP port a UDP or TCP transport may use)."""
    for _ in range(attempts):
        with socket.socket(_family(host), kind or socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if kind is not None or port_free(host, port, socket.SOCK_STREAM):
            return port
    raise OSError(f"no port free for both UDP and TCP found on {host}")
