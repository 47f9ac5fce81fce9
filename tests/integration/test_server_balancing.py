"""`ragloom serve --processes 2` shares connections evenly and replaces a worker killed -9.

With uvicorn's shared socket, 32 keep-alive clients connecting at once split 31/1 or 26/6
(asyncio accepts every waiting connection in the worker that wakes first), so one core served
most of the load. The supervisor now hands each connection to the worker with the fewest open.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psutil
import pytest

from tests.integration.serve_process import hashing_served, serve_process


@pytest.fixture(scope="module")
def two_process_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a hashing-hybrid config with `serve: {processes: 2}`, its index of the example corpus)."""
    config, index_dir, _ = hashing_served(tmp_path_factory.mktemp("balancing"), {"processes": 2})
    return config, index_dir


@contextmanager
def open_connections(url: str, count: int) -> Iterator[list[http.client.HTTPConnection]]:
    """`count` keep-alive connections, each having answered one /healthz, closed on exit."""
    host, port = url.removeprefix("http://").split(":")
    with ExitStack() as stack:
        connections = []
        for _ in range(count):
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            stack.callback(conn.close)
            conn.connect()
            connections.append(conn)
        for conn in connections:  # all connected before any request, like a burst of clients
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b'{"status":"ok"}'
        yield connections


def worker_pids(supervisor: int) -> list[int]:
    """The worker processes under `ragloom serve`."""
    pids = []
    for child in psutil.Process(supervisor).children(recursive=True):
        with contextlib.suppress(psutil.ZombieProcess, psutil.NoSuchProcess):
            if "ragloom.server.worker" in " ".join(child.cmdline()):
                pids.append(child.pid)
    return pids


def owner_of(connections: list[http.client.HTTPConnection], workers: list[int]) -> list[int]:
    """Which worker serves each client connection (matched by the client's port)."""
    by_port = {}
    for pid in workers:
        for c in psutil.Process(pid).net_connections(kind="tcp"):
            if c.status == psutil.CONN_ESTABLISHED and c.raddr:
                by_port[c.raddr.port] = pid
    return [by_port[conn.sock.getsockname()[1]] for conn in connections]


def test_connections_go_to_the_worker_with_the_fewest(two_process_config: tuple[Path, Path]):
    config, index_dir = two_process_config
    with serve_process(config, index_dir) as (proc, url):
        workers = worker_pids(proc.pid)
        assert len(workers) == 2
        with open_connections(url, 32) as burst:
            owners = owner_of(burst, workers)
            assert sorted(collections.Counter(owners).values()) == [16, 16]

            # Close the 16 of one worker: the next 8 connections all go to it, not 4 and 4.
            emptied = owners[0]
            for conn, owner in zip(burst, owners, strict=True):
                if owner == emptied:
                    conn.close()
            time.sleep(0.5)  # the worker reports its closes to the supervisor
            with open_connections(url, 8) as more:
                assert owner_of(more, workers) == [emptied] * 8


def test_a_killed_worker_is_replaced(two_process_config: tuple[Path, Path]):
    config, index_dir = two_process_config
    with serve_process(config, index_dir) as (proc, url):
        first, second = worker_pids(proc.pid)
        psutil.Process(first).send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 120
        while first in (now := worker_pids(proc.pid)) or len(now) < 2:
            assert time.monotonic() < deadline, f"no new worker: {now}"
            time.sleep(0.2)
        # Until the new one is ready, connections go to the survivor; after, to both.
        for _ in range(20):
            with open_connections(url, 1):
                pass
        while True:
            with open_connections(url, 4) as burst:
                owners = set(owner_of(burst, now))
            if len(owners) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert owners == set(now) and second in owners

        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert not [
            p for p in now if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
        ]


def test_workers_stop_when_the_supervisor_is_killed(two_process_config: tuple[Path, Path]):
    config, index_dir = two_process_config
    with serve_process(config, index_dir) as (proc, _):
        workers = [psutil.Process(pid) for pid in worker_pids(proc.pid)]
        proc.kill()
        proc.wait()
        _, alive = psutil.wait_procs(workers, timeout=60)
        assert not alive  # no orphans serving nothing and holding the models' memory
