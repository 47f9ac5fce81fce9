"""A generator that talks to any OpenAI-compatible chat-completions endpoint over HTTP.

It covers vLLM, Ollama, the llama.cpp server and hosted APIs. The API key never sits in the
config: `api_key_env` names an environment variable that is read at call time, sent as a
bearer token and kept out of `repr()`, `vars()`, logs and error messages.

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

Each attempt may take up to `timeout` seconds; connect errors, timeouts, HTTP 429 and 5xx are
retried `retries` times with exponential backoff (a stream only until its first piece).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from itertools import chain
from typing import Any, NoReturn

import httpx

from ragloom.errors import ConfigError, Problem, RagloomError
from ragloom.generation.base import Message, TextGenerator

logger = logging.getLogger(__name__)

#: How much of a server's error body an error message quotes.
MAX_BODY_CHARS = 300
#: Upper bound on one backoff sleep, including a server's `Retry-After`.
MAX_BACKOFF_S = 10.0
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# Transport failures worth another attempt; bad URLs and the like fail at once.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class GeneratorError(RagloomError):
    """A generation backend failed: unreachable, timed out, refused or answered nonsense."""


class _RetryableStatus(Exception):
    """An HTTP status worth retrying (429, 5xx); becomes a GeneratorError when retries run out."""

    def __init__(self, status: int, detail: str, retry_after: float | None):
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}")


def _invalid(field: str, message: str) -> ConfigError:
    return ConfigError(Problem(f"openai generator: {field} {message}", "openai", field))


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric `Retry-After` header, if the server sent one."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _error_detail(text: str) -> str:
    """The human part of an error body: `error.message`, `error`, `detail` or the raw text."""
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    return text.strip()


class OpenAICompatibleGenerator(TextGenerator):
    """Chat completions from an OpenAI-compatible server, whole or streamed over SSE."""

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
        backoff: float = 0.5,
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
        if backoff < 0:
            raise _invalid("backoff", f"must be >= 0 seconds, got {backoff!r}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.max_new_tokens = max_new_tokens
        self.temperature = float(temperature)
        self.stop = list(stop) if stop else None
        self.timeout = float(timeout)
        self.retries = retries
        self.extra_headers = dict(extra_headers) if extra_headers else None
        self.backoff = float(backoff)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, "
            f"api_key_env={self.api_key_env!r}, timeout={self.timeout}, retries={self.retries})"
        )

    @property
    def url(self) -> str:
        """The chat-completions endpoint every request goes to."""
        return f"{self.base_url}/chat/completions"

    def stream(self, messages: list[Message], **options: Any) -> Iterator[str]:
        """Yield answer pieces as the server streams them (a missing key fails here, eagerly)."""
        key = self._api_key()
        return self._stream(self._body(messages, True, options), self._headers(key, True), key)

    def generate(self, messages: list[Message], **options: Any) -> str:
        """The whole answer from one non-streaming request."""
        key = self._api_key()
        body, headers = self._body(messages, False, options), self._headers(key, False)
        attempt = 0
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                try:
                    response = client.post(self.url, json=body, headers=headers)
                    self._check_status(response, key)
                    return self._message_content(response, key)
                except (*_TRANSIENT, _RetryableStatus) as exc:
                    attempt = self._retry_or_raise(exc, attempt, key, pieces=0)

    def _stream(
        self, body: dict[str, Any], headers: dict[str, str], key: str | None
    ) -> Iterator[str]:
        attempt, pieces = 0, 0
        with httpx.Client(timeout=self.timeout) as client:
            while True:
                try:
                    with client.stream("POST", self.url, json=body, headers=headers) as response:
                        self._check_status(response, key)
                        kind = response.headers.get("content-type", "")
                        if kind.startswith("application/json"):  # server ignored "stream": true
                            response.read()
                            yield self._message_content(response, key)
                            return
                        for piece in self._sse_pieces(response, key):
                            pieces += 1
                            yield piece
                    return
                except (*_TRANSIENT, _RetryableStatus) as exc:
                    attempt = self._retry_or_raise(exc, attempt, key, pieces)

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

    def _headers(self, key: str | None, streaming: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if streaming else "application/json"}
        headers.update(self.extra_headers or {})
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _body(self, messages: list[Message], streaming: bool, options: dict[str, Any]) -> dict:
        opts = dict(options)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
            "max_tokens": opts.pop("max_new_tokens", self.max_new_tokens),
            "temperature": opts.pop("temperature", self.temperature),
            "stream": streaming,
        }
        stop = opts.pop("stop", self.stop)
        if stop:
            body["stop"] = list(stop)
        body.update(opts)  # anything else (top_p, seed, ...) goes to the server as given
        return body

    def _retry_or_raise(self, exc: Exception, attempt: int, key: str | None, pieces: int) -> int:
        """Sleep and return the next attempt number, or raise the final GeneratorError."""
        if pieces or attempt >= self.retries:
            self._fail(exc, attempt + 1, key, pieces)
        delay = min(self.backoff * 2**attempt, MAX_BACKOFF_S)
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            delay = min(max(delay, exc.retry_after), MAX_BACKOFF_S)
        logger.warning(
            "openai generator: %s from %s; retry %d/%d in %.2f s",
            type(exc).__name__ if not isinstance(exc, _RetryableStatus) else exc,
            self.url,
            attempt + 1,
            self.retries,
            delay,
        )
        time.sleep(delay)
        return attempt + 1

    def _fail(self, exc: Exception, attempts: int, key: str | None, pieces: int) -> NoReturn:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        if pieces:
            tries = f" (stream cut off after {pieces} pieces; not retried)"
        if isinstance(exc, _RetryableStatus):
            message = f"HTTP {exc.status} from {self.url}: {self._clip(exc.detail, key)}"
        elif isinstance(exc, httpx.TimeoutException):
            message = f"no response from {self.url} within {self.timeout:g} s (timeout)"
        elif isinstance(exc, httpx.ConnectError):
            message = (
                f"cannot reach {self.url} ({self._clip(str(exc), key)}); "
                f"check that the server is running and base_url is right"
            )
        else:
            message = f"connection to {self.url} failed: {type(exc).__name__}: {exc}"
        raise GeneratorError(f"openai generator: {self._clip(message, key, None)}{tries}") from exc

    def _check_status(self, response: httpx.Response, key: str | None) -> None:
        if response.status_code < 400:
            return
        detail = _error_detail(response.read().decode("utf-8", "replace"))
        if response.status_code in _RETRY_STATUS:
            raise _RetryableStatus(response.status_code, detail, _retry_after(response))
        raise GeneratorError(
            f"openai generator: HTTP {response.status_code} from {self.url}: "
            f"{self._clip(detail, key)}"
        )

    def _message_content(self, response: httpx.Response, key: str | None) -> str:
        data = self._json(response.text, key)
        try:
            content = data["choices"][0]["message"].get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            self._malformed("no choices[0].message in the response", response.text, key)
        return content if isinstance(content, str) else ""

    def _sse_pieces(self, response: httpx.Response, key: str | None) -> Iterator[str]:
        """Content deltas from a Server-Sent Events body, until `data: [DONE]`."""
        data_lines: list[str] = []
        for line in chain(response.iter_lines(), [""]):  # the trailing "" flushes a final event
            if line.startswith("data:"):
                data_lines.append(line[5:].removeprefix(" "))
                continue
            if line or not data_lines:  # comments (":"), "event:", "id:" and stray blank lines
                continue
            payload, data_lines = "\n".join(data_lines), []
            if payload.strip() == "[DONE]":
                return
            chunk = self._json(payload, key)
            if isinstance(chunk, dict) and "error" in chunk:
                raise GeneratorError(
                    f"openai generator: {self.url} reported an error mid-stream: "
                    f"{self._clip(_error_detail(payload), key)}"
                )
            try:
                choices = chunk["choices"]
                content = choices[0].get("delta", {}).get("content") if choices else None
            except (KeyError, IndexError, TypeError, AttributeError):
                self._malformed("stream chunk without choices[0].delta", payload, key)
            if isinstance(content, str) and content:
                yield content

    def _json(self, text: str, key: str | None) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            self._malformed("response is not JSON", text, key)

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
