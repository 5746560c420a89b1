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


def _start(gguf, port, env=None, *extra):
    return subprocess.Popen([sys.executable, "-m", "jaft", "serve", "--gguf", str(gguf), "--port", str(port),
                             "--n-ctx", "256", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _wait_up(proc, base, timeout=90):
    deadline = time.time() + timeout
    while True:
        try:
            return _get(f"{base}/models", timeout=5)
        except OSError:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.time() < deadline, "server did not start"
            time.sleep(0.3)


def _chat(base):
    return _get(f"{base}/chat/completions", {"model": "m", "max_tokens": 4, "temperature": 0,
                                             "messages": [{"role": "user", "content": "こんにちは"}]})


@pytest.fixture(scope="module")
def served_gguf(tiny_qwen, tmp_path_factory):
    """Q4_K_M: the quantization whose repacked kernels crashed `jaft serve` on AMX CPUs (issue 11)."""
    from jaft.export.gguf import convert_to_gguf
    from jaft.export.quantize import quantize

    f16 = tmp_path_factory.mktemp("serve") / "model-f16.gguf"
    convert_to_gguf(tiny_qwen, f16)
    return quantize(f16, f16.with_name("model-q4_k_m.gguf"), "q4_k_m").path


@pytest.mark.slow
def test_a_crashed_backend_is_reported_and_restarted(served_gguf):
    """The first chat request kills llama.cpp (injected SIGSEGV): one line, a new backend, the next request works."""
    port = _free_port()
    proc = _start(served_gguf, port, {"JAFT_INJECT_NATIVE_CRASH": "serve request #1"})
    base = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_up(proc, base)
        with pytest.raises(OSError):  # the request the crash took down (connection closed)
            _chat(base)
        deadline = time.time() + 90
        while True:  # the same port answers again: same socket, new backend
            try:
                reply = _chat(base)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.time() < deadline
                time.sleep(0.3)
        assert reply["usage"]["completion_tokens"] >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    crash_lines = [ln for ln in err.splitlines() if "crashed" in ln]
    assert len(crash_lines) == 1 and "SIGSEGV" in crash_lines[0] and "restarting" in crash_lines[0], err
    assert "Traceback" not in err
    assert "extra buffer types" in out.splitlines()[0]  # the start-up line says what was applied


@pytest.mark.slow
def test_crash_loop_is_bounded(served_gguf):
    """Every backend dies on its first request: after --max-restarts restarts, one error line and exit 2."""
    port = _free_port()
    proc = _start(served_gguf, port, {"JAFT_INJECT_NATIVE_CRASH": "serve request #*"}, "--max-restarts", "1")
    base = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(2):
            _wait_up(proc, base)
            with pytest.raises(OSError):
                _chat(base)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: serve: llama.cpp crashed 2 times") and "giving up" in lines[-1], err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_crash_while_loading_is_one_error_line(served_gguf):
    r = run_jaft("serve", "--gguf", str(served_gguf), "--port", str(_free_port()),
                 env={"JAFT_INJECT_NATIVE_CRASH": "serve #1:SIGABRT"})
    assert_clean_error(r, "serve #1: llama.cpp crashed (killed by SIGABRT)")


def test_serve_bad_input_is_one_line(served_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(served_gguf.read_bytes()[: served_gguf.stat().st_size // 2])
    assert_clean_error(run_jaft("serve", "--gguf", str(cut)), "not a readable GGUF file", "re-run `jaft export`")
    # a tensor type llama.cpp does not know (type id 99 written over the first tensor's)
    import shutil

    import gguf as gguf_py

    odd = tmp_path / "odd.gguf"
    shutil.copy(served_gguf, odd)
    reader = gguf_py.GGUFReader(str(odd), "r+")
    reader.tensors[0].field.parts[4][0] = 99
    del reader
    assert_clean_error(run_jaft("serve", "--gguf", str(odd)), "not a readable GGUF file")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert_clean_error(run_jaft("serve", "--gguf", str(served_gguf), "--port", str(port)),
                           f"127.0.0.1:{port}: cannot listen", "choose another --port")
