"""`jaft serve`: an OpenAI-compatible chat endpoint on loopback, as a RAG system would call it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from jaft.export.serve import is_loopback
from tests.conftest import assert_clean_error, run_jaft


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, body: dict | None = None, timeout: float = 60) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def test_serve_answers_one_chat_completion(tiny_qwen, tmp_path):
    from jaft.export.gguf import convert_to_gguf

    gguf = tmp_path / "model-f16.gguf"
    convert_to_gguf(tiny_qwen, gguf)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "jaft", "serve", "--gguf", str(gguf), "--port", str(port),
                             "--n-ctx", "256"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ})
    try:
        base = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 90
        while True:
            try:
                models = _get(f"{base}/models", timeout=5)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.time() < deadline, "server did not start"
                time.sleep(0.3)
        assert models["data"][0]["id"] == "model-f16"
        reply = _get(f"{base}/chat/completions", {
            "model": "model-f16", "max_tokens": 8, "temperature": 0,
            "messages": [{"role": "user", "content": "日本の首都はどこですか？"}],
        })
        choice = reply["choices"][0]
        assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
        assert reply["usage"]["completion_tokens"] >= 1
        # the R1 template from the GGUF framed the prompt (BOS, user, assistant, <think>\n)
        assert reply["usage"]["prompt_tokens"] > 5
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with pytest.raises(OSError):
        _get(f"http://127.0.0.1:{port}/v1/models", timeout=2)  # stopped


@pytest.mark.parametrize("host,loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                           ("0.0.0.0", False), ("192.168.1.5", False)])
def test_loopback_detection(host, loopback):
    assert is_loopback(host) is loopback


def test_serve_refuses_a_file_that_is_not_gguf(tmp_path):
    bad = tmp_path / "model.gguf"
    bad.write_bytes(b"PK\x03\x04 not a gguf")
    assert_clean_error(run_jaft("serve", "--gguf", str(bad)), "not a GGUF file")
    assert_clean_error(run_jaft("serve", "--gguf", str(tmp_path / "missing.gguf")), "no such GGUF file")
