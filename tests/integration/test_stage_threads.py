"""`threads` on a model stage: its forward passes run on that many intra-op threads (torch: in
the calling thread only, restored after; onnx: its session's), with the same outputs, while
another thread keeps torch's count; a bad value is refused at load."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from ragloom import Pipeline
from ragloom.backends import TorchRunner
from ragloom.chunking.encoders import QueryEncoder
from ragloom.chunking.text_encoder import load_encoder
from ragloom.errors import ConfigError

QUESTION = "How does reciprocal rank fusion merge rankings?"


class CountsThreads(torch.nn.Module):
    """A module that records torch's thread count while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def forward(self, **batch: Any) -> SimpleNamespace:
        self.seen.append(torch.get_num_threads())
        return SimpleNamespace(out=batch["x"] * 2)


def test_torch_runner_runs_on_its_threads_and_restores_the_count() -> None:
    module = CountsThreads()
    before = torch.get_num_threads()
    out = TorchRunner(module, "out", threads=1)({"x": torch.ones(2)})
    assert out.tolist() == [2.0, 2.0]
    assert module.seen == [1]
    assert torch.get_num_threads() == before
    TorchRunner(module, "out")({"x": torch.ones(2)})
    assert module.seen[-1] == before


def test_a_stage_on_one_thread_leaves_other_threads_their_count() -> None:
    seen_elsewhere: list[int] = []
    inside = threading.Event()
    release = threading.Event()

    class Holds(CountsThreads):
        def forward(self, **batch: Any) -> SimpleNamespace:
            inside.set()
            release.wait(30)
            return super().forward(**batch)

    module = Holds()
    runner = threading.Thread(target=TorchRunner(module, "out", threads=1), args=({"x": 1},))
    runner.start()
    assert inside.wait(30)
    seen_elsewhere.append(torch.get_num_threads())  # the main thread, meanwhile
    release.set()
    runner.join(30)
    assert module.seen == [1]
    assert seen_elsewhere == [torch.get_num_threads()]


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_query_encoder_threads_give_the_same_embedding(backend: str) -> None:
    default = QueryEncoder(model="minilm", backend=backend, cache_size=0)
    single = QueryEncoder(model="minilm", backend=backend, cache_size=0, threads=1)
    a = np.asarray(default.run(QUESTION)["embedding"])
    b = np.asarray(single.run(QUESTION)["embedding"])
    assert float(a @ b) > 0.9999
    assert single.encoder is not default.encoder  # its own runner
    if backend == "torch":
        assert single.encoder.runner.threads == 1
    else:
        options = single.encoder.runner.session.get_session_options()
        assert options.intra_op_num_threads == 1
        # idle threads sleep instead of spinning into the next stage's time
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert load_encoder("minilm", backend=backend, threads=1) is single.encoder


def test_threads_below_one_is_refused_naming_the_stage_and_field() -> None:
    with pytest.raises(ConfigError) as raised:
        Pipeline.from_dict(
            {
                "components": {
                    "query_encoder": {
                        "type": "query_encoder",
                        "init_parameters": {"model": "minilm", "threads": 0},
                    }
                }
            }
        )
    message = str(raised.value)
    assert "query_encoder" in message and "threads" in message
