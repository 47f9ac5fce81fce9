"""A local transformers causal LM as a generator: chat template, sampling, stop strings, streaming.

Example::

    from ragloom.generation.local import LocalChatModel

    llm = LocalChatModel("smollm2-135m-instruct", max_new_tokens=64)
    for piece in llm.stream([{"role": "user", "content": "Say hello."}]):
        print(piece, end="", flush=True)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ragloom.devices import DType, pick_device
from ragloom.generation.base import Message, TextGenerator
from ragloom.models import DEFAULT_GENERATOR, load_failure
from ragloom.pretrained import Pretrained


class StopStrings:
    """Cuts a stream of text pieces at the first stop string, never emitting part of one."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.hold = max((len(s) for s in self.stops), default=1) - 1
        self.buffer = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Text that is safe to emit now."""
        if self.stopped:
            return ""
        self.buffer += piece
        cut = min((i for i in (self.buffer.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.stopped = True
            out, self.buffer = self.buffer[:cut], ""
            return out
        safe = len(self.buffer) - self.hold
        out, self.buffer = self.buffer[: max(safe, 0)], self.buffer[max(safe, 0) :]
        return out

    def flush(self) -> str:
        out, self.buffer = ("" if self.stopped else self.buffer), ""
        return out


class ChatLM(Pretrained):
    """A causal LM with a chat template, loaded through `ragloom.models.load_pretrained`."""

    auto_class = "AutoModelForCausalLM"

    def __init__(self, model: str, device: str = "auto", dtype: DType = "auto"):
        super().__init__(model, device, dtype)
        if self.tokenizer.chat_template is None:
            raise load_failure(model, ValueError("the model has no chat template"))


class LocalChatModel(TextGenerator):
    """A chat-tuned causal LM run in-process (default: the bundled SmolLM2-135M-Instruct)."""

    name = "local"

    def __init__(
        self,
        model: str = DEFAULT_GENERATOR,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        device: str = "auto",
        dtype: str = "auto",
        seed: int | None = 0,
    ):
        self.model = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.stop = list(stop)
        self.requested_device = device
        self.device = pick_device(device)
        self.dtype = dtype
        self.seed = seed

    def stage_parameters(self) -> dict[str, Any] | None:
        """This model as `llm_generator` settings (None with a seed the stage cannot set)."""
        if self.seed != 0:
            return None
        return {
            "backend": "local",
            "model": self.model,
            "max_new_tokens": self.max_new_tokens,
            "temperature": float(self.temperature),
            "stop": list(self.stop),
            "device": self.requested_device,
            "dtype": self.dtype,
        }

    def load(self) -> tuple[Any, Any]:
        """Tokenizer and model, loaded once per process for these settings."""
        lm = ChatLM.shared(self.model, self.device, self.dtype)  # type: ignore[arg-type]
        return lm.tokenizer, lm.model

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's vocabulary (for context budgets)."""
        tokenizer, _ = self.load()
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        """Yield the reply piece by piece while the model generates it in a worker thread."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        tokenizer, lm = self.load()
        max_new_tokens = int(options.get("max_new_tokens", self.max_new_tokens))
        temperature = float(options.get("temperature", self.temperature))
        stops = StopStrings(options.get("stop", self.stop))
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)

        class HaltOnStop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stops.stopped, dtype=torch.bool)

        sampling: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            sampling["temperature"] = temperature
            if self.seed is not None:
                torch.manual_seed(self.seed)
        failure: list[BaseException] = []

        def work() -> None:
            try:
                with torch.inference_mode():
                    lm.generate(
                        **inputs,
                        max_new_tokens=max_new_tokens,
                        streamer=streamer,
                        stopping_criteria=StoppingCriteriaList([HaltOnStop()]),
                        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                        **sampling,
                    )
            except BaseException as exc:  # surfaced in the consuming thread below
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=work, name="ragloom-generate", daemon=True)
        worker.start()
        try:
            for piece in streamer:
                text = stops.feed(piece)
                if text:
                    yield text
            tail = stops.flush()
            if tail:
                yield tail
        finally:
            stops.stopped = True  # ends generation early if the consumer stops reading
            worker.join()
        if failure:
            raise failure[0]
