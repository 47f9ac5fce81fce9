"""The supervisor of `ragloom serve --processes N`: it accepts every connection on the port and
hands it to the worker process with the fewest open connections.

Why not let the workers accept on a shared socket (uvicorn's `workers=N`)? asyncio accepts
every connection waiting when its socket wakes, so the first worker to wake takes a burst
whole: 32 clients connecting at once split 31/1 or 26/6 (measured by hand), and one core then
serves most of the load while the other idles. Handing each accepted socket over
(`socket.send_fds` on a Unix sequenced-packet pair per worker, the way Node's cluster module
balances) keeps the split even, and counting the connections each worker has closed makes it
least-connections, not round-robin.

Messages on a worker's channel: the supervisor sends `c` with one socket attached; a worker
sends `r` once it is ready and `x<count>` with the number of connections it has closed so far.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import selectors
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from types import FrameType

logger = logging.getLogger("ragloom.server")

#: Enough for one message; a worker's close count fits many times over.
MESSAGE_BYTES = 64
#: Seconds between checks that the workers are alive, when no socket is busy.
POLL_S = 0.5


@dataclass
class Worker:
    """One worker process and the supervisor's view of it."""

    process: subprocess.Popen[bytes]
    channel: socket.socket
    ready: bool = False
    handed: int = 0
    closed: int = 0
    order: int = 0

    @property
    def open_connections(self) -> int:
        return self.handed - self.closed


class Balancer:
    """Runs `processes` workers (`command` + the channel's file descriptor as last argument)
    and shares `listener`'s connections among them until SIGTERM or SIGINT."""

    def __init__(
        self,
        listener: socket.socket,
        processes: int,
        command: list[str],
        env: dict[str, str],
        stop_timeout_s: float,
    ):
        self.listener = listener
        self.processes = processes
        self.command = command
        self.env = env
        self.stop_timeout_s = stop_timeout_s
        self.selector = selectors.DefaultSelector()
        self.workers: list[Worker] = []
        self.stopping = False
        self.accepting = False
        self._turns = itertools.count()

    def run(self) -> int:
        """Serve until a signal asks to stop (exit status 0), or until a worker fails before it
        ever became ready (1: its own error is already on stderr)."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.listener.setblocking(False)
            for _ in range(self.processes):
                self._start_worker()
            while not self.stopping:
                for key, _ in self.selector.select(POLL_S):
                    if key.fileobj is self.listener:
                        self._accept()
                    else:
                        self._read(key.data)
                if self._check_workers():
                    return 1
            return 0
        finally:
            self._stop_workers()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _start_worker(self) -> None:
        # Sequenced packets: one message per send, like datagrams, and an end of file when the
        # other side is gone (a worker whose supervisor was killed -9 stops too).
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = subprocess.Popen(
                [*self.command, str(theirs.fileno())], env=self.env, pass_fds=[theirs.fileno()]
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        worker = Worker(process, ours)
        self.workers.append(worker)
        self.selector.register(ours, selectors.EVENT_READ, worker)

    def _read(self, worker: Worker) -> None:
        """Take in what a worker said: ready, or how many connections it has closed."""
        while True:
            try:
                message = worker.channel.recv(MESSAGE_BYTES)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:  # the worker is gone; _check_workers replaces it
                self.selector.unregister(worker.channel)
                return
            if message == b"r":
                worker.ready = True
                self._maybe_listen()
            elif message.startswith(b"x"):
                worker.closed = max(worker.closed, int(message[1:]))

    def _maybe_listen(self) -> None:
        """Accept connections once every worker is ready (until then the kernel queues them),
        so that the first worker up does not take the first burst whole."""
        if not self.accepting and all(w.ready for w in self.workers):
            self.accepting = True
            self.selector.register(self.listener, selectors.EVENT_READ)
            logger.info("%d server processes ready", len(self.workers))

    def _accept(self) -> None:
        """Hand every waiting connection, one at a time, to the least busy ready worker."""
        while True:
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # e.g. out of file descriptors: try again next wake
                logger.warning("accept failed: %s", error)
                return
            with connection:
                self._hand_over(connection)

    def _hand_over(self, connection: socket.socket) -> None:
        candidates = [w for w in self.workers if w.ready and w.process.poll() is None]
        # Fewest open connections first; ties go to whoever was handed one longest ago.
        for worker in sorted(candidates, key=lambda w: (w.open_connections, w.order)):
            try:
                socket.send_fds(worker.channel, [b"c"], [connection.fileno()])
            except OSError:
                continue  # dying or its queue is full: the next one
            worker.handed += 1
            worker.order = next(self._turns)
            return
        logger.warning("no server process could take a connection; closed it")

    def _check_workers(self) -> bool:
        """Replace workers that died; True when one died before it was ever ready."""
        for worker in list(self.workers):
            status = worker.process.poll()
            if status is None:
                continue
            self.workers.remove(worker)
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(worker.channel)
            worker.channel.close()
            if not worker.ready:
                logger.error("a server process exited while starting (status %s)", status)
                self.stopping = True
                return True
            logger.warning(
                "server process %d exited (status %s); starting another", worker.process.pid, status
            )
            self._start_worker()
        return False

    def _stop_workers(self) -> None:
        """Stop accepting; SIGTERM every worker (each lets its requests finish) and wait."""
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self.listener.close()
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s + 10
        for worker in self.workers:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.channel.close()
        self.selector.close()


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The port every worker answers on (IPv6 when `host` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)
