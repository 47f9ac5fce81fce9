"""Talk to `ragloom serve` with the official `openai` client and plain HTTP.

Start a server first (it binds 127.0.0.1:8000 by default), for example:

    ragloom index examples/corpus -c examples/bm25.yaml --index-dir /tmp/bm25-index
    ragloom serve -c examples/bm25.yaml --index-dir /tmp/bm25-index

Run: python examples/serve_client.py [BASE_URL]   (default http://127.0.0.1:8000)
With API keys configured on the server, set RAGLOOM_API_KEY to one of them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx
from openai import OpenAI

QUESTION = "What do k1 and b control?"


def client(base_url: str) -> OpenAI:
    """An OpenAI client pointed at the server (the key is only checked if the server has keys)."""
    return OpenAI(base_url=f"{base_url}/v1", api_key=os.environ.get("RAGLOOM_API_KEY", "none"))


def ask(base_url: str, question: str) -> tuple[str, list[dict[str, Any]]]:
    """The answer and its citations (doc_id, chunk_id, start, end) from one chat completion."""
    reply = client(base_url).chat.completions.create(
        model="ragloom", messages=[{"role": "user", "content": question}]
    )
    extension = (reply.model_extra or {}).get("ragloom", {})
    return reply.choices[0].message.content or "", extension.get("citations", [])


def ask_streaming(base_url: str, question: str) -> list[dict[str, Any]]:
    """Print the answer as it streams in; the citations come in the last chunk."""
    citations: list[dict[str, Any]] = []
    stream = client(base_url).chat.completions.create(
        model="ragloom", messages=[{"role": "user", "content": question}], stream=True
    )
    for chunk in stream:
        print(chunk.choices[0].delta.content or "", end="", flush=True)
        citations = (chunk.model_extra or {}).get("ragloom", {}).get("citations", citations)
    print()
    return citations


def add_and_find(base_url: str) -> str:
    """Index one document over HTTP, then retrieve it: the top hit's document id."""
    headers = {"Authorization": f"Bearer {os.environ.get('RAGLOOM_API_KEY', 'none')}"}
    document = {
        "id": "notes/quokka",
        "text": "Quokkas are small marsupials that live on Rottnest Island.",
        "metadata": {"topic": "animals"},
    }
    added = httpx.post(
        f"{base_url}/v1/documents", json={"documents": [document]}, headers=headers, timeout=120
    )
    added.raise_for_status()
    found = httpx.post(
        f"{base_url}/v1/retrieve",
        json={"query": "marsupials on Rottnest Island", "top_k": 1},
        headers=headers,
    )
    found.raise_for_status()
    return str(found.json()["hits"][0]["doc_id"])


def main() -> None:
    base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
    answer, citations = ask(base_url, QUESTION)
    print(f"Answer: {answer}")
    for c in citations:
        print(f"  [{c['passage']}] {c['doc_id']} [{c['start']}:{c['end']}]")
    print("Streamed: ", end="")
    ask_streaming(base_url, QUESTION)
    print(f"Added notes/quokka; retrieving it finds {add_and_find(base_url)}")


if __name__ == "__main__":
    main()
