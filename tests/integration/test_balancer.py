"""The `ragloom serve --processes` supervisor on its own, with real worker processes that fail:
it must give up (exit status 1) instead of restarting a worker that cannot start, forever."""

from __future__ import annotations

import os
import sys
import time

from ragloom.server.balancer import Balancer, listening_socket

FAILING_WORKER = [
    sys.executable,
    "-c",
    "import sys; sys.stderr.write('bad config\\n'); sys.exit(3)",
]


def test_a_worker_that_fails_to_start_stops_the_supervisor() -> None:
    listener = listening_socket("127.0.0.1", 0)
    balancer = Balancer(listener, 2, FAILING_WORKER, dict(os.environ), stop_timeout_s=5)
    began = time.monotonic()
    assert balancer.run() == 1
    assert time.monotonic() - began < 30
    assert all(w.process.poll() is not None for w in balancer.workers)
    assert listener.fileno() == -1  # closed: nothing answers on the port any more
