"""Model resolution: bundled aliases, local folders, and hub ids that fail fast offline."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import huggingface_hub.constants as hub_constants
import pytest

from ragloom.chunking.text_encoder import TextEncoder
from ragloom.errors import ModelNotFoundError
from ragloom.models import (
    BUNDLED_GGUF,
    BUNDLED_MODELS,
    DEFAULT_ENCODER,
    load_failure,
    load_tokenizer,
    resolve_model_path,
)

UNKNOWN_HUB_ID = "someone/not-a-model"


def _assert_lists_aliases(message: str) -> None:
    for alias in [*BUNDLED_MODELS, *BUNDLED_GGUF]:
        assert alias in message


@pytest.mark.parametrize("alias", sorted(BUNDLED_MODELS))
def test_bundled_alias_resolves_to_a_model_folder(alias: str) -> None:
    path = Path(resolve_model_path(alias))
    assert path.is_dir()
    assert (path / "config.json").is_file()
    assert json.loads((path / "config.json").read_text())["hidden_size"] == 384


def test_default_encoder_is_bundled() -> None:
    assert DEFAULT_ENCODER in BUNDLED_MODELS


def test_local_model_folder_resolves_to_itself(tmp_path: Path) -> None:
    bundled = resolve_model_path("minilm")
    assert resolve_model_path(bundled) == bundled
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model_path(str(tmp_path)) == str(tmp_path)


def test_home_relative_folder_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text("{}")
    assert resolve_model_path("~/my-model") == str(tmp_path / "my-model")


def test_folder_without_config_json_is_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=r"config\.json"):
        resolve_model_path(str(tmp_path))


@pytest.mark.parametrize("path", ["./relative/path", "../no/such/model", "/no/such/model"])
def test_missing_path_is_model_not_found(path: str) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model_path(path)


def test_a_file_is_not_a_model_folder(tmp_path: Path) -> None:
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"\0")
    with pytest.raises(ModelNotFoundError, match="not a directory"):
        resolve_model_path(str(model_file))


@pytest.mark.parametrize("value", ["", None, 3])
def test_empty_or_non_string_setting_is_rejected(value: object) -> None:
    with pytest.raises(ModelNotFoundError, match="non-empty string"):
        resolve_model_path(value)  # type: ignore[arg-type]


def test_hub_like_id_passes_resolution_unchanged() -> None:
    assert resolve_model_path(UNKNOWN_HUB_ID) == UNKNOWN_HUB_ID


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """What a load waits on: each sleep (still slept) and connection attempt (still refused by
    the network guard). Failing fast means failing with neither, whatever the clock says."""
    seen: list[tuple[str, object]] = []
    real_sleep, guarded_connect = time.sleep, socket.socket.connect

    def sleep(seconds: float) -> None:
        seen.append(("sleep", seconds))
        real_sleep(seconds)

    def connect(sock: socket.socket, address: object) -> None:
        seen.append(("connect", address))
        guarded_connect(sock, address)

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return seen


def test_unknown_hub_id_tokenizer_fails_fast_offline(waits: list[tuple[str, object]]) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        load_tokenizer(UNKNOWN_HUB_ID)
    assert waits == []  # no retry, no backoff, no connection attempt
    message = str(info.value)
    assert UNKNOWN_HUB_ID in message
    assert "HF_HUB_OFFLINE=1" in message
    _assert_lists_aliases(message)


def test_unknown_hub_id_encoder_fails_fast_offline(waits: list[tuple[str, object]]) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        TextEncoder(UNKNOWN_HUB_ID, device="cpu")
    assert waits == []
    _assert_lists_aliases(str(info.value))


def test_unknown_hub_id_fails_at_once_without_a_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)

    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    waited: list[float] = []
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(time, "sleep", waited.append)  # count backoff instead of sleeping it
    with pytest.raises(ModelNotFoundError) as info:
        load_tokenizer(UNKNOWN_HUB_ID)
    _assert_lists_aliases(str(info.value))
    assert sum(waited) < 5, f"slept {sum(waited)} s in retries before failing"


def test_load_failure_offline_names_offline_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    error = load_failure("org/model", OSError("connection refused"))
    assert isinstance(error, ModelNotFoundError)
    message = str(error)
    assert "'org/model'" in message
    assert "offline mode (HF_HUB_OFFLINE=1)" in message
    assert "local directory" in message
    _assert_lists_aliases(message)


def test_load_failure_online_names_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    message = str(load_failure("org/model", OSError("repository not found")))
    assert "OSError: repository not found" in message
    assert "offline mode" not in message
    _assert_lists_aliases(message)
