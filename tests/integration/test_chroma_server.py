"""Chroma stages on a real Chroma server (`chroma run` on loopback) instead of an embedded
directory: the same chunks and hits as the embedded store, incremental and Ray Data indexing
included, and a clear error when the server does not answer."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ragloom.rag import RAG
from ragloom.retrievers.chroma import ChromaRetriever
from ragloom.retrievers.chroma_store import (
    ChromaServerUnreachable,
    CollectionNotFound,
    open_server_client,
)
from tests.integration.conftest import ROOT
from tests.integration.test_incremental_indexing import stored_ids
from tests.integration.test_ray_data_indexing import RAY_DATA

CHROMA_TYPES = ("chroma_writer", "chroma_retriever")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server on 127.0.0.1 (the `chroma` script chromadb installs)."""
    port = free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    command = [str(Path(sys.executable).parent / "chroma"), "run", "--host", "127.0.0.1"]
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [*command, "--port", str(port), "--path", str(folder / "data")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError as exc:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(
                    f"chroma run did not start: {(folder / 'server.log').read_text()}"
                ) from exc
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def server_config(tmp_path: Path, server: str, collection: str) -> Path:
    """examples/hybrid-chunks.yaml with every Chroma stage on `server`, in `collection`."""
    config = yaml.safe_load((ROOT / "examples" / "hybrid-chunks.yaml").read_text())
    for part in ("indexing", "query"):
        for spec in config[part]["components"].values():
            if spec["type"] in CHROMA_TYPES:
                spec["init_parameters"].update(server=server, collection=collection)
    path = tmp_path / f"{collection}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def server_ids(server: str, collection: str) -> list[str]:
    return open_server_client(server).get_collection(collection).get(include=[])["ids"]


def test_server_store_matches_embedded_store(
    chroma_server: str, docs: Path, tmp_path: Path
) -> None:
    config = server_config(tmp_path, chroma_server, "hybrid-server")
    on_server = RAG.from_file(config, tmp_path / "server")
    embedded = RAG.from_file(ROOT / "examples" / "hybrid-chunks.yaml", tmp_path / "embedded")
    first = on_server.index([docs])
    assert first.chunks_written == embedded.index([docs]).chunks_written
    assert not (tmp_path / "server" / "chroma").exists()  # nothing embedded was opened

    ids = server_ids(chroma_server, "hybrid-server")
    assert len(ids) == len(set(ids))
    assert set(ids) == stored_ids(tmp_path / "embedded")
    for question in ("What is reciprocal rank fusion?", "How are chunks encoded late?"):
        mine, theirs = on_server.query(question).hits, embedded.query(question).hits
        assert [h.chunk.id for h in mine] == [h.chunk.id for h in theirs]
        assert [h.score for h in mine] == pytest.approx([h.score for h in theirs], abs=1e-5)

    (docs / "fusion.txt").write_text("Fusion, rewritten: reciprocal ranks are summed.\n")
    (docs / "ray.md").unlink()
    again = RAG.from_file(config, tmp_path / "server").index([docs], prune=True)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (0, 1, 3, 1)
    after = set(server_ids(chroma_server, "hybrid-server"))
    assert {i for i in after if "fusion.txt#" not in i} == {
        i for i in ids if "fusion.txt#" not in i and "ray.md#" not in i
    }
    assert any("fusion.txt#" in i for i in after)


def test_ray_data_writes_to_the_server(
    ray_cluster: str, chroma_server: str, docs: Path, tmp_path: Path
) -> None:
    config = server_config(tmp_path, chroma_server, "ray-server")
    rag = RAG.from_file(config, tmp_path / "ray", executor="ray")
    rag.config.indexing.executor = RAY_DATA
    report = rag.index([docs])
    assert report.executor == "ray-data"
    config = ROOT / "examples" / "hybrid-chunks.yaml"
    local = RAG.from_file(config, tmp_path / "local").index([docs])
    assert report.chunks_written == local.chunks_written
    ids = server_ids(chroma_server, "ray-server")
    assert len(ids) == len(set(ids))
    assert set(ids) == stored_ids(tmp_path / "local")


def test_unreachable_server_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    stage = ChromaRetriever(server=url, collection="nowhere")
    with pytest.raises(ChromaServerUnreachable) as caught:
        stage.warm_up()
    message = str(caught.value)
    assert "chroma_retriever" in message and url in message and "chroma run" in message


def test_a_retriever_never_creates_a_collection_on_the_server(chroma_server: str) -> None:
    stage = ChromaRetriever(server=chroma_server, collection="never-indexed")
    stage.warm_up()
    with pytest.raises(CollectionNotFound) as caught:
        stage.run(query_embedding=[0.1] * 8)
    assert f"the Chroma server {chroma_server} has no collection 'never-indexed'" in str(
        caught.value
    )
    names = [c.name for c in open_server_client(chroma_server).list_collections()]
    assert "never-indexed" not in names
