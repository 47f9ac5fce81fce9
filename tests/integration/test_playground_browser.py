"""The playground page at `GET /` in a real headless browser against a real `ragloom serve`.

Debian's `chromium` driven by Playwright for Python (`executable_path`: Playwright's own browser
download is never used; `.ci/run` installs chromium). Without chromium or Playwright the tests
skip, except under CI, where they fail: CI may not pass by skipping them.

Set RAGLOOM_PLAYGROUND_SCREENSHOT=docs/playground.png to refresh the README's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ragloom.config import config_from_dict
from ragloom.rag import RAG
from ragloom.server.app import create_app
from ragloom.server.settings import ServerSettings
from tests.integration.conftest import RunningServer

QUESTION = "What do k1 and b control?"
LLM_QUESTION = "What is reciprocal rank fusion?"
VIEWPORT = {"width": 1000, "height": 800}
#: Waiting for a whole answer: generous, the machine may be busy (not a speed check).
ANSWER_TIMEOUT_MS = 180_000
KEYS_ENV = "RAGLOOM_TEST_PLAYGROUND_KEYS"
#: The server's own deadline, as generous.
SERVER_TIMEOUT_S = 600.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; fail under CI, where the browser tests must run."""
    if _in_ci():
        pytest.fail(f"{reason}: CI must run the browser tests (.ci/run installs chromium)")
    pytest.skip(f"{reason} (install Debian's chromium and the dev extra to run it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian chromium, launched once for the module."""
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable("no `chromium` on PATH")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


def _page(browser: Any) -> tuple[Any, list[str], list[str]]:
    """A fresh page, the URLs it requests, and its script errors and console errors."""
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(ANSWER_TIMEOUT_MS)
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, requested, errors


def _only_this_server(requested: list[str], base_url: str) -> None:
    """Every request went to the server under test: nothing from another host."""
    assert requested, "the page made no request at all"
    others = [url for url in requested if urlsplit(url).netloc != urlsplit(base_url).netloc]
    assert not [url for url in others if not url.startswith("data:")], others


def _ask(page: Any, question: str) -> None:
    page.fill("#question", question)
    page.click("#ask")
    page.wait_for_selector("#timings table, #error:not([hidden])")


def _shows(text: str, value: float) -> bool:
    """True when `text` is `value` rounded to the decimals it shows (a tie may go either way)."""
    places = len(text.strip().partition(".")[2])
    return abs(float(text) - value) <= 0.5 * 10**-places + 1e-12


def _cell(text: str) -> tuple[int, str]:
    """`#2 · 0.0164` -> (2, "0.0164"): a retriever's rank and score as a hits-table cell shows."""
    rank, score = text.split("\u00b7")
    return int(rank.strip().lstrip("#")), score.strip()


def _without_gate(data: dict) -> dict:
    """The server tests' configuration without their gate stage (the page shows every stage)."""
    query = data["query"]
    fed = [c["receiver"] for c in query["connections"] if c["sender"] == "gate.query"]
    asked = [t for t in query["inputs"]["query"] if t != "gate.query"]
    return {
        **data,
        "query": {
            **query,
            "components": {k: v for k, v in query["components"].items() if k != "gate"},
            "connections": [c for c in query["connections"] if c["sender"] != "gate.query"],
            "inputs": {**query["inputs"], "query": fed + asked},
        },
    }


def _app(rag: RAG, **settings: Any) -> Any:
    """The real `ragloom serve` app, with a generous deadline (speed is not checked here)."""
    return create_app(rag, ServerSettings(request_timeout_s=SERVER_TIMEOUT_S, **settings))


@pytest.fixture(scope="module")
def server(served_index: tuple[Path, Path, dict]) -> Iterator[RunningServer]:
    """BM25 + dense (hashing encoder) over the example corpus, extractive answers."""
    _, index_dir, data = served_index
    rag = RAG(config_from_dict(_without_gate(data)), index_dir=index_dir)
    with RunningServer(_app(rag)) as running:
        yield running


def test_playground_streams_an_answer_with_citations_hits_and_timings(
    browser: Any, server: RunningServer, tmp_path: Path
) -> None:
    expected = httpx.post(f"{server.base_url}/v1/query", json={"query": QUESTION}, timeout=60)
    assert expected.status_code == 200, expected.text
    result = expected.json()
    page, requested, errors = _page(browser)
    page.goto(f"{server.base_url}/")
    assert page.title() == "ragloom playground"
    with page.expect_response("**/v1/chat/completions") as answered:
        _ask(page, QUESTION)
    assert answered.value.status == 200
    assert answered.value.headers["content-type"].startswith("text/event-stream")
    assert not page.is_visible("#error"), page.inner_text("#error")

    # The answer, with each [n] a link to its numbered citation.
    assert page.inner_text("#answer").strip() == result["answer"].strip()
    links = page.locator("#answer a.cite").all_inner_texts()
    assert links == [f"[{c['passage']}]" for c in result["citations"]]

    # Each citation: its number, document and span, the passage with the cited span highlighted.
    items = page.locator("#citations li.citation")
    assert items.count() == len(result["citations"]) > 0
    for i, citation in enumerate(result["citations"]):
        item = items.nth(i)
        passage = result["passages"][citation["passage"] - 1]
        assert item.get_attribute("id") == f"cite-{citation['passage']}"
        assert item.locator(".num").inner_text() == f"[{citation['passage']}]"
        meta = item.locator(".meta").inner_text()
        assert citation["doc_id"] in meta
        assert f"{citation['start']}\u2013{citation['end']}" in meta
        mark = item.locator("mark.cited-span")
        assert mark.text_content() == passage["text"]
        assert (mark.get_attribute("data-start"), mark.get_attribute("data-end")) == (
            str(citation["start"]),
            str(citation["end"]),
        )
        # The extractive answer quotes one sentence of the passage: that one is underlined.
        sentences = mark.locator(".cited-sentence").all_text_contents()
        assert len(sentences) == 1 and sentences[0] in result["answer"], sentences

    # The hits: fused score and each retriever's rank and score, in /v1/query's order.
    rows = page.locator("#hits tbody tr")
    assert rows.count() == len(result["hits"])
    retrievers = set()
    for i, hit in enumerate(result["hits"]):
        row = rows.nth(i)
        assert row.locator("td").nth(2).inner_text() == hit["doc_id"]
        assert _shows(row.locator("td").nth(4).inner_text(), hit["score"])
        for retriever, rank in hit["source_ranks"].items():
            retrievers.add(retriever)
            cell = row.locator(f'td.source[data-retriever="{retriever}"]').inner_text()
            shown_rank, shown_score = _cell(cell)
            assert shown_rank == rank
            assert _shows(shown_score, hit["source_scores"][retriever])
    assert retrievers == {"bm25", "dense"}

    # Per-stage timings, one row a stage, the total last.
    stages = page.locator("#timings tr.timing").evaluate_all(
        "rows => rows.map(r => r.dataset.stage)"
    )
    assert set(stages) == set(result["timings"]) and stages[-1] == "total"
    assert page.locator('#timings tr[data-stage="total"] td.n').inner_text().endswith(" ms")

    _only_this_server(requested, server.base_url)
    assert errors == []
    shot = page.screenshot(path=str(tmp_path / "playground.png"))
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get("RAGLOOM_PLAYGROUND_SCREENSHOT")
    if target:
        Path(target).write_bytes(shot)
    page.close()


def test_playground_shows_server_errors_and_sends_the_api_key(
    browser: Any, served_index: tuple[Path, Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index_dir, data = served_index
    monkeypatch.setenv(KEYS_ENV, "playground-secret")
    rag = RAG(config_from_dict(_without_gate(data)), index_dir=index_dir)
    with RunningServer(_app(rag, api_keys_env=KEYS_ENV)) as running:
        page, requested, _ = _page(browser)
        page.goto(f"{running.base_url}/")  # the page itself needs no key
        page.wait_for_selector("#status:has-text('missing API key')")
        _ask(page, QUESTION)
        assert page.inner_text("#error") == "missing API key: send `Authorization: Bearer <key>`"
        assert page.locator("#citations li").count() == 0

        page.fill("#api-key", "wrong")
        _ask(page, QUESTION)
        assert page.inner_text("#error") == "invalid API key"

        page.fill("#api-key", "playground-secret")
        page.dispatch_event("#api-key", "change")
        _ask(page, QUESTION)
        assert not page.is_visible("#error"), page.inner_text("#error")
        assert page.locator("#citations mark.cited-span").count() >= 1
        _only_this_server(requested, running.base_url)
        page.close()


def _sse(body: str) -> tuple[list[str], dict]:
    """The answer's pieces and the final chunk's `ragloom` object from a chat SSE body."""
    events = [e.removeprefix("data: ") for e in body.split("\n\n") if e.startswith("data: ")]
    assert events[-1] == "[DONE]", events[-3:]
    chunks = [json.loads(e) for e in events[:-1]]
    pieces = [c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]]
    return [p for p in pieces if p], chunks[-1]["ragloom"]


def _llm_config(data: dict) -> dict:
    """`data` with the extractive answerer replaced by the bundled SmolLM2 (it streams)."""
    query = data["query"]
    components = {k: v for k, v in query["components"].items() if k != "answerer"}
    components["prompt"] = {
        "type": "prompt_builder",
        "init_parameters": {"max_passages": 2, "tokenizer": "smollm2-135m-instruct"},
    }
    components["generator"] = {
        "type": "llm_generator",
        "init_parameters": {
            "backend": "local",
            "model": "smollm2-135m-instruct",
            "max_new_tokens": 24,
        },
    }
    connections = [c for c in query["connections"] if not c["receiver"].startswith("answerer.")]
    connections += [
        {"sender": "fusion.hits", "receiver": "prompt.hits"},
        {"sender": "prompt.messages", "receiver": "generator.messages"},
        {"sender": "prompt.hits", "receiver": "generator.hits"},
    ]
    inputs = {
        "query": [t for t in query["inputs"]["query"] if t != "answerer.question"]
        + ["prompt.question"],
        "top_k": query["inputs"]["top_k"],
    }
    outputs = {"hits": "fusion.hits", "answer": "generator.answer"}
    llm_query = {"components": components, "connections": connections, "inputs": inputs}
    return {**data, "query": {**llm_query, "outputs": outputs}}


def test_playground_shows_a_generated_answer_as_it_streams(
    browser: Any, served_index: tuple[Path, Path, dict]
) -> None:
    _, index_dir, data = served_index
    rag = RAG(config_from_dict(_llm_config(_without_gate(data))), index_dir=index_dir)
    with RunningServer(_app(rag)) as running:
        page, requested, errors = _page(browser)
        page.goto(f"{running.base_url}/")
        # Every text the answer box shows while the answer streams in.
        page.evaluate(
            """() => {
              window.seen = [];
              new MutationObserver(() => {
                const box = document.getElementById("answer");
                if (box.classList.contains("streaming")) window.seen.push(box.textContent);
              }).observe(document.getElementById("answer"),
                         {childList: true, characterData: true, subtree: true});
            }"""
        )
        with page.expect_response("**/v1/chat/completions") as answered:
            _ask(page, LLM_QUESTION)
        assert not page.is_visible("#error"), page.inner_text("#error")
        pieces, expected = _sse(answered.value.text())
        seen = [text for text in page.evaluate("window.seen") if text]
        final = page.inner_text("#answer")
        # The page shows the server's answer, growing as its pieces arrive.
        assert len(pieces) > 1, pieces
        assert final.strip() == "".join(pieces).strip()
        assert len(seen) > 1, seen
        assert all(final.strip().startswith(earlier.strip()) for earlier in seen), seen
        numbers = page.locator("#citations li .num").all_inner_texts()
        assert numbers == [f"[{c['passage']}]" for c in expected["citations"]]
        for citation in expected["citations"]:
            passage = expected["passages"][citation["passage"] - 1]
            mark = page.locator(f"#cite-{citation['passage']} mark.cited-span")
            assert mark.text_content() == passage["text"]
        assert page.locator("#timings tr[data-stage='generator']").count() == 1
        _only_this_server(requested, running.base_url)
        assert errors == []
        page.close()
