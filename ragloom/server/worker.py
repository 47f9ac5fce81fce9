"""One worker process of `ragloom serve --processes N`: uvicorn serving the connections the
supervisor (`ragloom.server.balancer`) hands over a Unix socket, instead of accepting its own.

Run by the supervisor as `python -m ragloom.server.worker FD`, with the serve spec in the
environment (`ragloom.server.processes.SPEC_ENV`). SIGTERM lets requests in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from typing import Any

import uvicorn

from ragloom.server.balancer import MESSAGE_BYTES
from ragloom.server.run import stopped_quietly


class HandedConnectionsServer(uvicorn.Server):
    """A uvicorn server without a listening socket of its own: it serves each socket that
    arrives on `channel`, and reports back how many of them it has closed."""

    def __init__(self, config: uvicorn.Config, channel: socket.socket):
        super().__init__(config)
        self.channel = channel
        self.closed = 0

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # no listener: connections come from the channel
        if self.should_exit:
            return
        loop = asyncio.get_running_loop()
        protocol_class = counting_closes(self.config.http_protocol_class, self._closed_one)

        def create_protocol() -> asyncio.Protocol:
            return protocol_class(  # type: ignore[call-arg]
                config=self.config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )

        self._create_protocol = create_protocol
        self.channel.setblocking(False)
        loop.add_reader(self.channel.fileno(), self._receive, loop)
        self.channel.send(b"r")

    def _receive(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve every socket waiting on the channel; stop when the supervisor is gone."""
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self.channel, MESSAGE_BYTES, 16)
            except BlockingIOError:
                return
            if not message:
                loop.remove_reader(self.channel.fileno())
                self.should_exit = True
                return
            for fd in fds:
                connection = socket.socket(fileno=fd)
                connection.setblocking(False)
                loop.create_task(self._serve_one(loop, connection))

    async def _serve_one(self, loop: asyncio.AbstractEventLoop, connection: socket.socket) -> None:
        try:
            await loop.connect_accepted_socket(self._create_protocol, connection)
        except OSError:  # the client left before we started on it
            connection.close()
            self._closed_one()

    def _closed_one(self) -> None:
        self.closed += 1
        # A full queue or a gone supervisor: the next close sends the newer total.
        with contextlib.suppress(OSError):
            self.channel.send(b"x%d" % self.closed)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self.channel.fileno())
        await super().shutdown(sockets=[])


def counting_closes(base: type[Any], closed: Any) -> type[asyncio.Protocol]:
    """`base` (uvicorn's HTTP protocol class) calling `closed()` after each lost connection."""

    def connection_lost(self: Any, exc: Exception | None) -> None:
        base.connection_lost(self, exc)
        closed()

    return type(f"Counting{base.__name__}", (base,), {"connection_lost": connection_lost})


def main(argv: list[str]) -> None:
    """Build this worker's app from the spec and serve until SIGTERM."""
    from ragloom.server.processes import worker_app, worker_spec
    from ragloom.server.run import uvicorn_options

    channel = socket.socket(fileno=int(argv[0]))
    spec = worker_spec()
    config = uvicorn.Config(worker_app(spec), **uvicorn_options(spec.settings, spec.log_level))
    with stopped_quietly():
        HandedConnectionsServer(config, channel).run()


if __name__ == "__main__":
    main(sys.argv[1:])
