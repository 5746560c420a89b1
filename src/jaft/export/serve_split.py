"""``jaft serve`` response handling: reasoning into ``reasoning_content``, the answer alone in ``content``.

An ASGI middleware around llama-cpp-python's server, for ``POST …/chat/completions`` only. JSON
responses get ``message.reasoning_content``; server-sent event streams get ``delta.reasoning_content``
chunk by chunk, with a ``<think>`` / ``</think>`` tag split across chunks held back until it is whole
(:class:`jaft.models.reasoning.ReasoningSplitter`). This is the shape of DeepSeek's API and of vLLM's
reasoning parsers, so RAG clients read the answer from ``content`` as usual.
"""

from __future__ import annotations

import json
from typing import Any

from jaft.models.reasoning import ReasoningSplitter, split_reasoning


def split_message(message: dict[str, Any], in_think: bool) -> dict[str, Any]:
    """A non-streamed ``choices[i].message`` with its reasoning moved to ``reasoning_content``."""
    content = message.get("content")
    if not isinstance(content, str):
        return message
    reasoning, answer = split_reasoning(content, in_think=in_think)
    out = dict(message, content=answer)
    if reasoning is not None:
        out["reasoning_content"] = reasoning
    return out


class StreamSplitter:
    """Rewrites the ``data:`` lines of one chat-completion event stream."""

    def __init__(self, in_think: bool) -> None:
        self.in_think = in_think
        self.splitters: dict[int, ReasoningSplitter] = {}
        self.pending = b""  # bytes: a block may end inside a UTF-8 character

    def _chunk(self, chunk: dict[str, Any]) -> dict[str, Any]:
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            s = self.splitters.setdefault(int(choice.get("index", 0)), ReasoningSplitter(self.in_think))
            pieces = s.feed(delta["content"]) if isinstance(delta.get("content"), str) else []
            if choice.get("finish_reason") is not None:
                pieces += s.close()
            reasoning = "".join(t for k, t in pieces if k == "reasoning")
            content = "".join(t for k, t in pieces if k == "content")
            if "content" in delta or pieces:
                delta["content"] = content or None
                if reasoning:
                    delta["reasoning_content"] = reasoning
        return chunk

    def feed(self, data: bytes) -> bytes:
        """Complete lines of ``data`` rewritten; a partial last line is kept for the next call."""
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        return "".join(self._line(ln.decode("utf-8")) + "\n" for ln in lines).encode("utf-8")

    def flush(self) -> bytes:
        rest, self.pending = self.pending, b""
        return self._line(rest.decode("utf-8", errors="replace")).encode("utf-8") if rest else b""

    def _line(self, line: str) -> str:
        if not line.startswith("data: "):
            return line
        try:
            chunk = json.loads(line[6:].rstrip("\r"))
        except json.JSONDecodeError:
            return line  # [DONE] and anything else that is not a chunk
        if not isinstance(chunk, dict):
            return line
        return "data: " + json.dumps(self._chunk(chunk), ensure_ascii=False)


class ReasoningSplitMiddleware:
    """ASGI middleware applying :func:`split_message` / :class:`StreamSplitter` to chat completions."""

    def __init__(self, app: Any, *, in_think: bool) -> None:
        self.app, self.in_think = app, in_think

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or \
                not str(scope.get("path", "")).endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = {"mode": None, "start": None, "body": b"", "stream": None}

        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                ctype = headers.get(b"content-type", b"")
                if b"application/json" in ctype and message.get("status", 200) == 200:
                    state["mode"], state["start"] = "json", message  # sent with the rewritten length
                    return
                if b"text/event-stream" in ctype:
                    state["mode"], state["stream"] = "sse", StreamSplitter(self.in_think)
                await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            more = message.get("more_body", False)
            if state["mode"] == "json":
                state["body"] += message.get("body", b"")
                if more:
                    return
                body = _rewrite_json(state["body"], self.in_think)
                start = state["start"]
                headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
            elif state["mode"] == "sse":
                out = state["stream"].feed(message.get("body", b""))
                if not more:
                    out += state["stream"].flush()
                await send({**message, "body": out})
            else:
                await send(message)

        await self.app(scope, receive, wrapped)


def _rewrite_json(body: bytes, in_think: bool) -> bytes:
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body
    if isinstance(data, dict) and isinstance(data.get("choices"), list):
        for choice in data["choices"]:
            if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
                choice["message"] = split_message(choice["message"], in_think)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")
