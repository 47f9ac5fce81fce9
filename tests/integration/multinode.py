"""A two-node Ray cluster on this machine indexing with Ray Data; run in its own process.

`test_multinode_indexing.py` starts this script, because a `ray.cluster_utils.Cluster` needs a
driver that is not already connected to the test session's local Ray. The head node has no
CPU, so every encoder actor (one CPU each) runs on the worker node and prepares its BM25
segments there, into the shared index directory; the writer actor runs on the head. With
`--kill-after N` the worker node is removed once N documents are committed, and the run is
abandoned if it does not end by itself within 20 s (Ray Data retries the lost actors forever
when no node can host them): an operator's kill of a stuck run.

Prints one JSON object: the report (or the error) and the cluster's node count.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).parent / "configs" / "hashing-hybrid.yaml"
INDEXING = {"encoder_actors": 2, "num_cpus": 1, "batch_size": 4, "write_batch_size": 8}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("docs")
    parser.add_argument("index_dir")
    parser.add_argument("--kill-after", type=int, default=0)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from ragloom.indexing.journal import read_documents
    from ragloom.rag import RAG

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    worker = cluster.add_node(num_cpus=3)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    result: dict[str, Any] = {"nodes": len([n for n in ray.nodes() if n["Alive"]])}
    rag = RAG.from_file(CONFIG, args.index_dir, executor="ray")
    rag.config.indexing.executor = {"type": "ray", "timeout_s": 60, "indexing": INDEXING}

    def run() -> None:
        try:
            result["report"] = rag.index([args.docs]).to_dict()
        except BaseException as exc:  # reported, not raised: the parent test reads it
            result["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    code = 0
    if args.kill_after:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and thread.is_alive():
            if len(read_documents(Path(args.index_dir))[0]) >= args.kill_after:
                cluster.remove_node(worker)
                result["killed_at"] = len(read_documents(Path(args.index_dir))[0])
                break
            time.sleep(0.02)
        thread.join(timeout=20)
        code = 3 if thread.is_alive() else 0
        result["abandoned"] = bool(code)
    else:
        thread.join()
    print(json.dumps(result), flush=True)
    # With the indexing thread stuck on the lost node, the driver may end here, exit code 1,
    # when the raylet it is attached to goes away: the printed JSON is what counts.
    ray.shutdown()
    cluster.shutdown()
    if code:
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
