"""Reasoning vs answer in model output: whole replies, streams split anywhere, and `jaft serve`'s replies."""

from __future__ import annotations

import asyncio
import json

import pytest

from jaft.export.serve_split import ReasoningSplitMiddleware, StreamSplitter, split_message
from jaft.models.reasoning import ReasoningSplitter, split_reasoning

# (model output, prompt opened <think>, reasoning, content)
CASES = [
    ("<think>\n3に4を足す。\n</think>\n\n答えは7です。", False, "3に4を足す。", "答えは7です。"),
    ("3に4を足す。\n</think>\n\n答えは7です。", True, "3に4を足す。", "答えは7です。"),  # newer R1 template
    ("答えは7です。", False, None, "答えは7です。"),  # no reasoning at all
    ("\n\n<think>\n考える\n</think>答え", False, "考える", "答え"),
    ("<think>\n\n</think>\n\nこんにちは！", False, "", "こんにちは！"),  # R1's empty think block
    ("考えている途中で打ち切られた", True, "考えている途中で打ち切られた", ""),  # never closed: all reasoning
    ("<thinking>ではない</thinking>答え", False, None, "<thinking>ではない</thinking>答え"),
    ("答えは x < y です", False, None, "答えは x < y です"),
    ("推論\n</think>\n\n<answer>7</answer>\n", True, "推論", "<answer>7</answer>\n"),
]


@pytest.mark.parametrize(("text", "in_think", "reasoning", "content"), CASES)
def test_split_reasoning(text, in_think, reasoning, content):
    assert split_reasoning(text, in_think=in_think) == (reasoning, content)


@pytest.mark.parametrize(("text", "in_think", "reasoning", "content"), CASES)
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_streaming_gives_the_same_split_whatever_the_chunking(text, in_think, reasoning, content, size):
    s = ReasoningSplitter(in_think)
    pieces = []
    for i in range(0, len(text), size):
        pieces += s.feed(text[i:i + size])
    pieces += s.close()
    assert "".join(t for k, t in pieces if k == "reasoning") == (reasoning or "")
    assert "".join(t for k, t in pieces if k == "content") == content
    assert all(t for _, t in pieces)  # no empty pieces reach the client


def test_split_message_keeps_other_fields():
    msg = {"role": "assistant", "content": "考える</think>\n\n答え"}
    assert split_message(msg, True) == {"role": "assistant", "content": "答え", "reasoning_content": "考える"}
    assert split_message({"role": "assistant", "content": None}, True)["content"] is None


def _sse(deltas: list[str]) -> list[bytes]:
    """A llama-cpp-python style event stream, cut into byte blocks at awkward places."""
    lines = []
    for i, d in enumerate(deltas):
        chunk = {"id": "x", "object": "chat.completion.chunk", "choices": [
            {"index": 0, "delta": {"content": d}, "finish_reason": "stop" if i == len(deltas) - 1 else None}]}
        lines.append(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n")
    lines.append("data: [DONE]\n\n")
    raw = "".join(lines).encode("utf-8")
    return [raw[i:i + 7] for i in range(0, len(raw), 7)]


def _read_sse(blocks: list[bytes]) -> tuple[str, str]:
    text = b"".join(blocks).decode("utf-8")
    reasoning = content = ""
    for line in text.splitlines():
        if line.startswith("data: {"):
            delta = json.loads(line[6:])["choices"][0]["delta"]
            reasoning += delta.get("reasoning_content") or ""
            content += delta.get("content") or ""
    return reasoning, content


def test_stream_splitter_over_byte_blocks():
    s = StreamSplitter(in_think=True)
    blocks = _sse(["2と5", "を足す。</th", "ink>\n", "\n答え", "は7"])
    out = [s.feed(b) for b in blocks] + [s.flush()]
    assert _read_sse(out) == ("2と5を足す。", "答えは7")
    assert b"[DONE]" in b"".join(out)


def _fake_app(content_type: bytes, blocks: list[bytes]):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type), (b"content-length", b"1")]})
        for i, b in enumerate(blocks):
            await send({"type": "http.response.body", "body": b, "more_body": i < len(blocks) - 1})
    return app


def _call(app, path="/v1/chat/completions"):
    sent = []

    async def send(m):
        sent.append(m)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    asyncio.run(app({"type": "http", "method": "POST", "path": path}, receive, send))
    return sent


def test_middleware_rewrites_json_and_its_length():
    body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                            "content": "<think>\n考\n</think>\n\n答"}}]}).encode()
    sent = _call(ReasoningSplitMiddleware(_fake_app(b"application/json", [body[:10], body[10:]]), in_think=False))
    start, (end,) = sent[0], sent[1:]
    msg = json.loads(end["body"])["choices"][0]["message"]
    assert msg == {"role": "assistant", "content": "答", "reasoning_content": "考"}
    assert dict(start["headers"])[b"content-length"] == str(len(end["body"])).encode()


def test_middleware_streams_and_leaves_other_routes_alone():
    mw = ReasoningSplitMiddleware(_fake_app(b"text/event-stream", _sse(["考え", "</think>", "答え"])), in_think=True)
    sent = _call(mw)
    assert _read_sse([m["body"] for m in sent if m["type"] == "http.response.body"]) == ("考え", "答え")
    raw = b'{"choices": [{"message": {"content": "a</think>b"}}]}'
    other = _call(ReasoningSplitMiddleware(_fake_app(b"application/json", [raw]), in_think=True), "/v1/completions")
    assert other[1]["body"] == raw


def test_serve_app_deploys_the_run_instruction_and_splits_reasoning(tiny_qwen, tmp_path, request):
    """In-process `jaft serve`: the prompt is the one renderer's (system from the Modelfile), replies split."""
    from starlette.testclient import TestClient

    from jaft.export.gguf import convert_to_gguf
    from jaft.export.gguf_chat import deployed_from_gguf, serve_prompt
    from jaft.export.ollama import write_modelfile
    from jaft.export.serve import make_app

    gguf = tmp_path / "model-f16.gguf"
    convert_to_gguf(tiny_qwen, gguf)
    write_modelfile(gguf, tmp_path / "Modelfile", name="tiny:f16", system="<think>で考えて答えてください。")
    app = make_app(gguf, n_ctx=512)
    d = app.state.jaft_deployed
    assert d.system == "<think>で考えて答えてください。" and d.opens_think
    from transformers import AutoTokenizer

    from jaft.models.chat import encode_prompt, render_prompt

    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    msgs = [{"role": "user", "content": "2+3は？"}]
    want = encode_prompt(tok, render_prompt(tok, "2+3は？", d.system))
    assert serve_prompt(deployed_from_gguf(gguf, modelfile=tmp_path / "Modelfile"), msgs) == \
        render_prompt(tok, "2+3は？", d.system)
    from jaft.export.serve import free_server_model

    request.addfinalizer(free_server_model)
    with TestClient(app) as client:
        body = {"model": "model-f16", "max_tokens": 12, "temperature": 0, "messages": msgs}
        reply = client.post("/v1/chat/completions", json=body).json()
        assert reply["usage"]["prompt_tokens"] == len(want)
        msg = reply["choices"][0]["message"]
        assert "reasoning_content" in msg and "</think>" not in msg["content"]
        with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as r:
            stream = b"".join(r.iter_bytes())
        reasoning, content = _read_sse([stream])
        assert reasoning + content and "</think>" not in content
        assert (reasoning, content) == (msg["reasoning_content"], msg["content"])  # greedy: same reply
