"""A generator for any OpenAI-compatible chat-completions endpoint, through the `openai` SDK.

It covers vLLM, Ollama, the llama.cpp server and hosted APIs. The SDK does the HTTP: timeouts,
retries with exponential backoff (connect errors, timeouts, 408/409/429/5xx; `Retry-After`
honoured) and Server-Sent Events. This module adds what the pipeline needs on top: settings
checked at construction, and one-line errors that name the URL and never contain the API key.

The key never sits in the config: `api_key_env` names an environment variable that is read at
every call and sent as a bearer token on that request only, so it is kept out of `repr()`,
`vars()`, the SDK client, logs and error messages. Without `api_key_env` no `Authorization`
header is sent (an ambient `OPENAI_API_KEY` is never forwarded to a third-party server).

Example::

    import os
    from ragloom.generation.openai_http import OpenAICompatibleGenerator

    os.environ["MY_LLM_KEY"] = "..."  # or set it in the shell; never in YAML
    gen = OpenAICompatibleGenerator(
        base_url="http://127.0.0.1:8000/v1",  # POSTs to {base_url}/chat/completions
        model="Qwen/Qwen2.5-0.5B-Instruct",
        api_key_env="MY_LLM_KEY",
        max_new_tokens=128,
        timeout=30.0,
        retries=2,
    )
    messages = [{"role": "user", "content": "Say hello."}]
    for piece in gen.stream(messages):
        print(piece, end="", flush=True)
    answer = gen.generate(messages, temperature=0.2)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

from ragloom.errors import ConfigError, Problem, RagloomError
from ragloom.generation.base import Message, TextGenerator

if TYPE_CHECKING:
    import openai

#: How much of a server's error body an error message quotes.
MAX_BODY_CHARS = 300
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The SDK numbers its attempts on the wire; the last request's header says how many were made.
_RETRY_COUNT_HEADER = "x-stainless-retry-count"


class GeneratorError(RagloomError):
    """A generation backend failed: unreachable, timed out, refused or answered nonsense."""


def _invalid(field: str, message: str) -> ConfigError:
    return ConfigError(Problem(f"openai generator: {field} {message}", "openai", field))


def _error_detail(body: object) -> str:
    """The human part of an error body: `message`, `error`, `detail` or the body as text."""
    if isinstance(body, dict):
        for name in ("message", "error", "detail"):
            value = body.get(name)
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
            if isinstance(value, str) and value:
                return value
        return json.dumps(body)
    return str(body).strip() if body is not None else ""


class OpenAICompatibleGenerator(TextGenerator):
    """Chat completions from an OpenAI-compatible server, whole or streamed."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
        timeout: float = 60.0,
        retries: int = 2,
        extra_headers: dict[str, str] | None = None,
    ):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise _invalid(
                "base_url", "must start with http:// or https://, e.g. http://127.0.0.1:8000/v1"
            )
        if not isinstance(model, str) or not model:
            raise _invalid("model", "must be a non-empty model name the server knows")
        if api_key_env is not None and not _ENV_NAME.fullmatch(str(api_key_env)):
            # Do not echo the value: people paste the key itself here.
            raise _invalid(
                "api_key_env",
                "takes the NAME of an environment variable holding "
                "the key (e.g. OPENAI_API_KEY), not the key itself",
            )
        if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
            raise _invalid("max_new_tokens", f"must be a positive integer, got {max_new_tokens!r}")
        if temperature < 0:
            raise _invalid("temperature", f"must be >= 0, got {temperature!r}")
        if stop is not None and not all(isinstance(s, str) and s for s in stop):
            raise _invalid("stop", "must be a list of non-empty strings")
        if timeout <= 0:
            raise _invalid("timeout", f"must be > 0 seconds, got {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise _invalid("retries", f"must be an integer >= 0, got {retries!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.stop = list(stop) if stop else None
        self.timeout = float(timeout)
        self.retries = retries
        self.extra_headers = dict(extra_headers) if extra_headers else None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, timeout={self.timeout}, retries={self.retries})"
        )

    def __getstate__(self) -> dict[str, Any]:
        """Picklable: the SDK client (sockets, locks) is left behind and rebuilt on use."""
        state = dict(vars(self))
        state.pop("_client", None)
        return state

    def stage_parameters(self) -> dict[str, Any] | None:
        """This client as `llm_generator` settings (None with extra headers, which it lacks)."""
        if self.extra_headers:
            return None
        return {
            "backend": "openai",
            "base_url": self.base_url,
            "model": self.model,
            "api_key_env": self.api_key_env,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "stop": list(self.stop or []),
            "timeout": self.timeout,
            "retries": self.retries,
        }

    @property
    def url(self) -> str:
        """The chat-completions endpoint every request goes to."""
        return f"{self.base_url}/chat/completions"

    @cached_property
    def _client(self) -> openai.OpenAI:
        """One SDK client (its connection pool) per generator, holding no credentials."""
        import openai

        return openai.OpenAI(
            base_url=self.base_url,
            # Placeholder: each request sends the real key, or omits Authorization (_auth).
            api_key="per-request",
            max_retries=self.retries,
            timeout=self.timeout,
            default_headers=self.extra_headers,
        )

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        """Yield answer pieces as the server streams them (a missing key fails here, eagerly)."""
        key = self._api_key()
        return self._stream(self._request(messages, options), key)

    def generate(self, messages: list[Message], **options: Any) -> str:
        """The whole answer from one non-streaming request."""
        key = self._api_key()
        raw = self._create(self._request(messages, options), key, streaming=False)
        return self._json_content(raw.http_response.text, key)

    def _stream(self, request: dict[str, Any], key: str | None) -> Iterator[str]:
        import openai

        raw = self._create(request, key, streaming=True)
        kind = raw.headers.get("content-type", "")
        if kind.startswith("application/json"):  # the server ignored "stream": true
            raw.http_response.read()
            yield self._json_content(raw.http_response.text, key)
            return
        pieces = 0
        try:
            for chunk in raw.parse():
                choices = getattr(chunk, "choices", None)
                if not isinstance(choices, list):
                    text = chunk.model_dump_json(exclude_unset=True)
                    self._malformed("stream chunk without choices", text, key)
                delta = getattr(choices[0], "delta", None) if choices else None  # [] or no delta
                content = getattr(delta, "content", None)
                if isinstance(content, str) and content:
                    pieces += 1
                    yield content
        except (openai.OpenAIError, ValueError) as exc:
            self._fail(exc, key, pieces=pieces, midstream=True)

    def _create(self, request: dict[str, Any], key: str | None, streaming: bool) -> Any:
        """Send one chat-completions request (the SDK retries it); errors become one line."""
        import openai

        accept = "text/event-stream" if streaming else "application/json"
        try:
            return self._client.chat.completions.with_raw_response.create(
                **request,
                stream=streaming,
                extra_headers={"Accept": accept, "Authorization": self._auth(key)},
            )
        except openai.OpenAIError as exc:
            self._fail(exc, key)

    def _api_key(self) -> str | None:
        if self.api_key_env is None:
            return None
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            raise GeneratorError(
                f"openai generator: environment variable {self.api_key_env} is not set or empty; "
                f"export it with the API key (api_key_env names the variable)"
            )
        return key

    @staticmethod
    def _auth(key: str | None) -> Any:
        """This request's Authorization header: the bearer key, or none at all."""
        import openai

        return f"Bearer {key}" if key is not None else openai.omit

    def _request(self, messages: list[Message], options: dict[str, Any]) -> dict[str, Any]:
        opts = dict(options)
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": opts.pop("max_new_tokens", self.max_new_tokens),
            "temperature": opts.pop("temperature", self.temperature),
        }
        stop = opts.pop("stop", self.stop)
        if stop:
            request["stop"] = list(stop)
        if opts:  # anything else (top_p, seed, ...) goes to the server as given
            request["extra_body"] = opts
        return request

    def _fail(
        self, exc: Exception, key: str | None, pieces: int = 0, midstream: bool = False
    ) -> NoReturn:
        """Raise the one-line GeneratorError for an SDK exception (key masked, body clipped).

        `midstream`: the request was answered and the stream broke while being read.
        """
        import openai

        tries = ""
        if pieces:
            tries = f" (stream cut off after {pieces} pieces; not retried)"
        elif not midstream and isinstance(exc, openai.APIStatusError | openai.APIConnectionError):
            attempts = 1 + int(exc.request.headers.get(_RETRY_COUNT_HEADER, "0") or 0)
            tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if isinstance(exc, openai.APIStatusError):
            detail = _error_detail(exc.body)
            message = f"HTTP {exc.status_code} from {self.url}: {self._clip(detail, key)}"
        elif isinstance(exc, openai.APITimeoutError):
            message = f"no response from {self.url} within {self.timeout:g} s (timeout)"
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            if midstream:
                message = (
                    f"connection to {self.url} failed mid-stream: {self._clip(str(cause), key)}"
                )
            else:
                message = (
                    f"cannot reach {self.url} ({self._clip(str(cause), key)}); "
                    f"check that the server is running and base_url is right"
                )
        elif isinstance(exc, openai.APIError):  # an error event inside the stream
            detail = _error_detail(exc.body) or exc.message
            message = f"{self.url} reported an error mid-stream: {self._clip(detail, key)}"
        elif isinstance(exc, json.JSONDecodeError):
            self._malformed("stream event is not JSON", exc.doc, key)
        else:
            message = f"request to {self.url} failed: {type(exc).__name__}: {exc}"
        raise GeneratorError(f"openai generator: {self._clip(message, key, None)}{tries}") from exc

    def _json_content(self, text: str, key: str | None) -> str:
        """The answer of a whole (non-streamed) chat completion body."""
        try:
            data = json.loads(text)
        except ValueError:
            self._malformed("response is not JSON", text, key)
        try:
            content = data["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            self._malformed("no choices[0].message in the response", text, key)
        return content if isinstance(content, str) else ""

    def _malformed(self, what: str, text: str, key: str | None) -> NoReturn:
        raise GeneratorError(
            f"openai generator: malformed response from {self.url}: {what}: "
            f"{self._clip(text, key)!r}"
        )

    @staticmethod
    def _clip(text: str, key: str | None, limit: int | None = MAX_BODY_CHARS) -> str:
        """`text` with the API key masked, cut to `limit` characters."""
        if key:
            text = text.replace(key, "***")
        if limit is not None and len(text) > limit:
            text = text[:limit] + "..."
        return text
