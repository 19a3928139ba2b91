"""Faults both provider fakes can inject the same way."""

from __future__ import annotations

import socket
import struct

from aiohttp import web


async def reset_connection(request: web.Request) -> web.StreamResponse:
    """Drop the client's connection with a TCP reset instead of answering (ECONNRESET).

    The request is read first, so the client has sent everything and then sees the reset while
    waiting for the answer (httpx: ReadError), as when a load balancer kills a connection.
    """
    await request.read()
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0: close() sends RST, not FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)  # never reaches the client
