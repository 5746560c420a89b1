"""Reasoning and answer in a model's text: ``<think>…</think>`` split out, also while streaming.

R1-style models write ``<think>\\n reasoning \\n</think>\\n\\n answer``. When the generation prompt
already opened ``<think>`` (newer R1-Distill templates), the output starts inside the reasoning and
only ``</think>`` appears. DeepSeek's API and vLLM's ``deepseek_r1`` reasoning parser return the two
parts separately (``reasoning_content`` and ``content``); an output that never closes the block is all
reasoning (the answer was cut off). :class:`ReasoningSplitter` does the same over a stream of chunks,
where a tag may arrive split across chunks.
"""

from __future__ import annotations

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
# Spellings of an assistant turn's reasoning field in chat datasets and APIs: DeepSeek API / vLLM
# (reasoning_content), OpenRouter / vLLM >= 0.10 (reasoning), Ollama (thinking).
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")


def think_text(reasoning: str | None, answer: str) -> str:
    """An assistant turn as the model writes it: the think block (if any) then the answer."""
    if reasoning is None:
        return answer
    return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer.lstrip()}"


def _partial_tail(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag`` (kept back while streaming)."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0


class ReasoningSplitter:
    """Feed text chunks, get ``(kind, text)`` pieces with kind ``"reasoning"`` or ``"content"``.

    ``in_think``: the prompt ended inside an open ``<think>`` block. Otherwise a reply that starts
    (after whitespace) with ``<think>`` has reasoning, any other reply is all content. Whitespace
    around the reasoning and before the answer is dropped, as DeepSeek's API does.
    """

    def __init__(self, in_think: bool) -> None:
        self.state = "think" if in_think else "start"
        self.buf = ""
        self.pending_ws = ""  # reasoning whitespace held back until more reasoning follows
        self.reasoning_started = False
        self.saw_think = in_think

    def _reasoning(self, text: str, out: list[tuple[str, str]]) -> None:
        if not self.reasoning_started:
            text = text.lstrip()
            if not text:
                return
            self.reasoning_started = True
        body = text.rstrip()
        if body:
            out.append(("reasoning", self.pending_ws + body))
            self.pending_ws = ""
        self.pending_ws += text[len(body):]

    def feed(self, chunk: str) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        self.buf += chunk
        while self.buf:
            if self.state == "start":
                head = self.buf.lstrip()
                if head.startswith(THINK_OPEN):
                    self.buf, self.state, self.saw_think = head[len(THINK_OPEN):], "think", True
                elif not head or THINK_OPEN.startswith(head):
                    break  # undecided: wait for more text
                else:
                    self.state = "content"
            elif self.state == "think":
                i = self.buf.find(THINK_CLOSE)
                if i >= 0:
                    self._reasoning(self.buf[:i], out)
                    self.buf, self.state = self.buf[i + len(THINK_CLOSE):], "after"
                    continue
                keep = _partial_tail(self.buf, THINK_CLOSE)
                self._reasoning(self.buf[: len(self.buf) - keep], out)
                self.buf = self.buf[len(self.buf) - keep:]
                break
            elif self.state == "after":
                head = self.buf.lstrip()
                if not head:
                    self.buf = ""
                    break
                self.buf, self.state = head, "content"
            else:
                out.append(("content", self.buf))
                self.buf = ""
        return out

    def close(self) -> list[tuple[str, str]]:
        """Whatever is held back at the end of the stream."""
        out: list[tuple[str, str]] = []
        if self.state == "think":
            self._reasoning(self.buf, out)
        elif self.state in ("start", "content") and self.buf:
            out.append(("content", self.buf))
        self.buf = ""
        return out


def split_reasoning(text: str, *, in_think: bool = False) -> tuple[str | None, str]:
    """``(reasoning or None, answer)`` of a whole reply (see :class:`ReasoningSplitter`)."""
    s = ReasoningSplitter(in_think)
    pieces = s.feed(text) + s.close()
    reasoning = "".join(t for k, t in pieces if k == "reasoning")
    content = "".join(t for k, t in pieces if k == "content")
    return (reasoning if s.saw_think else None), content
