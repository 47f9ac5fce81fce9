"""`ragloom serve` as a real subprocess: SIGTERM lets the request in flight finish, then exits.

The request is held inside the query pipeline by the gate stage (tests/integration/
server_gate.py), SIGTERM is sent while it is held, then the gate opens: the answer must
arrive whole and the server must exit 0.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx
import yaml

from tests.integration.serve_process import serve_process
from tests.integration.test_server_protection import held, wait_entered


def test_sigterm_lets_the_request_in_flight_finish(
    served_index: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    gate, index_dir, data = served_index
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({**data, "serve": {"model_name": "corpus-rag"}}))
    with serve_process(config, index_dir) as (proc, url):
        models = httpx.get(f"{url}/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["corpus-rag"]  # the config's serve: block
        answers: list[httpx.Response] = []
        chat = {"model": "corpus-rag", "messages": [{"role": "user", "content": "hold: k1?"}]}
        with held(gate):
            request = threading.Thread(
                target=lambda: answers.append(
                    httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=120)
                )
            )
            request.start()
            wait_entered(gate)
            proc.send_signal(signal.SIGTERM)
        request.join(timeout=120)
        assert answers and answers[0].status_code == 200, answers
        assert answers[0].json()["ragloom"]["citations"]
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
