"""llm_generator's config: per-backend settings, round trips, generators given as objects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ragloom import Pipeline
from ragloom.errors import ComponentConfigError, ConfigError
from ragloom.generation.base import Message, TextGenerator
from ragloom.generation.generator import LLMGenerator
from ragloom.generation.local import LocalChatModel
from ragloom.generation.openai_http import OpenAICompatibleGenerator
from ragloom.pipeline.spec import dump_yaml, parse_yaml
from ragloom.registry import get_component_class

URL = "http://127.0.0.1:8000/v1"
OPENAI = {"backend": "openai", "base_url": URL, "model": "m", "api_key_env": "K", "timeout": 5.0}


class Echo(TextGenerator):
    """A generator that exists only as a Python object."""

    name = "echo"

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        yield "echo"


def _fields(err: pytest.ExceptionInfo[ComponentConfigError]) -> set[str | None]:
    return {problem.field for problem in err.value.problems}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"backend": "local", "base_url": URL}, "base_url"),
        ({"backend": "local", "timeout": 5.0}, "timeout"),
        ({"backend": "local", "retries": 0}, "retries"),
        ({"backend": "local", "api_key_env": "OPENAI_API_KEY"}, "api_key_env"),
        ({**OPENAI, "device": "cpu"}, "device"),
        ({**OPENAI, "dtype": "float32"}, "dtype"),
    ],
)
def test_a_setting_of_the_other_backend_is_an_error_naming_it(
    params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ComponentConfigError) as err:
        LLMGenerator(**params)
    assert _fields(err) == {field}
    message = str(err.value)
    assert f"'{field}'" in message and f"backend {params['backend']!r}" in message
    with pytest.raises(ComponentConfigError) as from_yaml:
        LLMGenerator.from_dict({"type": "llm_generator", "init_parameters": params})
    assert _fields(from_yaml) == {field}


def test_every_wrong_field_is_reported_at_once() -> None:
    with pytest.raises(ComponentConfigError) as err:
        LLMGenerator(backend="local", base_url=URL, timeout=3.0, device="cpu")
    assert _fields(err) == {"base_url", "timeout"}


def test_openai_backend_still_needs_a_base_url() -> None:
    with pytest.raises(ComponentConfigError) as err:
        LLMGenerator(backend="openai", model="m")
    assert _fields(err) == {"base_url"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"backend": "local", "device": "cpu", "dtype": "float32", "max_new_tokens": 8},
        OPENAI,
        {"backend": "openai", "base_url": URL, "retries": 0, "stop": ["\n\n"]},
    ],
)
def test_round_trips_through_to_dict_and_yaml(params: dict[str, Any]) -> None:
    stage = LLMGenerator(**params)
    envelope = stage.to_dict()
    assert envelope["type"] == "llm_generator"
    data, _ = parse_yaml(dump_yaml(envelope))
    again = get_component_class("llm_generator").from_dict(data)
    assert again.to_dict() == envelope
    for name, value in params.items():
        assert envelope["init_parameters"][name] == value
    other = {"local": {"base_url", "timeout", "retries", "api_key_env"}, "openai": {"device"}}
    assert not other[stage.backend] & set(envelope["init_parameters"])


def test_backend_defaults_apply_when_not_given() -> None:
    local = LLMGenerator().build_generator()
    assert isinstance(local, LocalChatModel) and local.dtype == "auto"
    remote = LLMGenerator(backend="openai", base_url=URL).build_generator()
    assert isinstance(remote, OpenAICompatibleGenerator)
    assert (remote.timeout, remote.retries, remote.api_key_env) == (60.0, 2, None)
    tuned = LLMGenerator(**OPENAI, retries=0).build_generator()
    assert isinstance(tuned, OpenAICompatibleGenerator)
    assert (tuned.timeout, tuned.retries, tuned.api_key_env) == (5.0, 0, "K")


def test_a_python_generator_object_refuses_to_serialise_saying_what_to_do() -> None:
    stage = LLMGenerator.from_generator(Echo(), max_new_tokens=16)
    assert stage.run(messages=[], hits=[])["answer"].generator.startswith("echo:")
    for serialise in (stage.to_dict, lambda: stage.init_parameters):
        with pytest.raises(ConfigError) as err:
            serialise()
        message = str(err.value)
        assert "Echo" in message and "from_generator" in message
        assert "backend: local" in message and "backend: openai" in message
    assert "Echo" in repr(stage)  # repr still works
    pipe = Pipeline().add("generator", stage)
    with pytest.raises(ConfigError, match="Python object"):
        pipe.to_yaml()


def test_a_generator_described_by_config_round_trips() -> None:
    remote = OpenAICompatibleGenerator(URL, "m", api_key_env="K", timeout=5.0, retries=1)
    stage = LLMGenerator.from_generator(remote, answer_without_context=True)
    assert stage.generator is remote
    params = stage.to_dict()["init_parameters"]
    assert params["backend"] == "openai" and params["base_url"] == URL
    assert (params["model"], params["timeout"], params["retries"]) == ("m", 5.0, 1)
    assert params["answer_without_context"] is True
    rebuilt = LLMGenerator.from_dict(stage.to_dict())
    assert repr(rebuilt.build_generator()) == repr(remote)
    local = LocalChatModel("smollm2-135m-instruct", max_new_tokens=12, device="cpu")
    params = LLMGenerator.from_generator(local).to_dict()["init_parameters"]
    assert params["backend"] == "local" and params["max_new_tokens"] == 12
    assert params["device"] == "cpu"


def test_a_generator_setting_config_cannot_express_stays_python_only() -> None:
    remote = OpenAICompatibleGenerator(URL, "m", extra_headers={"X-Team": "rag"})
    with pytest.raises(ConfigError, match="OpenAICompatibleGenerator"):
        LLMGenerator.from_generator(remote).to_dict()


def test_settings_that_contradict_the_generator_are_refused() -> None:
    remote = OpenAICompatibleGenerator(URL, "m")
    with pytest.raises(ComponentConfigError) as err:
        LLMGenerator.from_generator(remote, model="other")
    assert _fields(err) == {"model"}
