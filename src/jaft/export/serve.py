"""A local OpenAI-compatible endpoint for a GGUF through llama-cpp-python's server (the RAG entry point)."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

from jaft.errors import JaftError

GGUF_MAGIC = b"GGUF"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_gguf_file(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise JaftError(f"{p}: no such GGUF file; `jaft export` writes OUT/model-q4_k_m.gguf")
    with p.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise JaftError(f"{p}: not a GGUF file (bad magic); pass a .gguf written by `jaft export`")
    return p


def _message_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def register_chat_handler(deployed: object) -> str:
    """Register llama-cpp-python's chat handler that renders requests with jaft's renderer; returns its name.

    The prompt is the GGUF's own template through :func:`jaft.export.gguf_chat.serve_prompt`: the run's
    instruction when a request has no system message, BOS exactly once (the text carries it, so
    llama-cpp-python adds none), exactly as training and ``jaft eval`` built it.
    """
    from llama_cpp import llama_chat_format as lcf

    from jaft.export.gguf_chat import serve_prompt

    def formatter(messages: list[dict], **_: object) -> object:
        msgs = [{"role": m.get("role", "user"), "content": _message_text(m.get("content"))} for m in messages]
        stop = [s for s in (deployed.eos_token, *deployed.stop) if s]  # type: ignore[attr-defined]
        return lcf.ChatFormatterResponse(prompt=serve_prompt(deployed, msgs), stop=stop,  # type: ignore[arg-type]
                                         added_special=True)

    name = "jaft"
    lcf.register_chat_completion_handler(name)(lcf.chat_formatter_to_chat_completion_handler(formatter))
    return name


def make_app(gguf: str | Path, *, n_ctx: int = 4096, threads: int | None = None, name: str | None = None,
             system: str | None = None, raw_reasoning: bool = False, modelfile: str | Path | None = None):
    """The FastAPI app of llama_cpp.server for ``gguf``, prompts and replies handled as jaft deploys them.

    ``system``: the instruction for requests without a system message; default the SYSTEM of the
    Modelfile beside the GGUF (the run's instruction, as evaluated), "" for none. Replies carry the
    reasoning in ``reasoning_content`` and the answer alone in ``content`` unless ``raw_reasoning``.
    """
    path = check_gguf_file(gguf)
    try:
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as e:
        raise JaftError(f"serving needs llama-cpp-python with its server extra ({e.name} missing): "
                        "pip install 'jaft[gguf]'") from None
    from jaft.export.gguf_chat import deployed_from_gguf

    mf = Path(modelfile) if modelfile else path.parent / "Modelfile"
    deployed = deployed_from_gguf(path, modelfile=mf if (modelfile or mf.is_file()) else None)
    if system is not None:
        deployed.system = system or None
    model = ModelSettings(model=str(path), model_alias=name or path.stem, n_ctx=n_ctx, verbose=False,
                          chat_format=register_chat_handler(deployed),
                          **({"n_threads": threads, "n_threads_batch": threads} if threads else {}))
    app = create_app(server_settings=ServerSettings(), model_settings=[model])
    app.state.jaft_deployed = deployed
    if not raw_reasoning:
        from jaft.export.serve_split import ReasoningSplitMiddleware

        app.add_middleware(ReasoningSplitMiddleware, in_think=deployed.opens_think)
    return app


def serve(gguf: str | Path, *, host: str = "127.0.0.1", port: int = 8000, n_ctx: int = 4096,
          threads: int | None = None, name: str | None = None, system: str | None = None,
          raw_reasoning: bool = False) -> None:
    """Serve until interrupted (see :func:`make_app` for ``system`` and ``raw_reasoning``)."""
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise JaftError(f"{host}:{port}: cannot listen ({e.strerror}); choose another --port") from None
    app = make_app(gguf, n_ctx=n_ctx, threads=threads, name=name, system=system, raw_reasoning=raw_reasoning)
    d = app.state.jaft_deployed
    print(f"prompt: {d.source}; system prompt: {'(none)' if not d.system else repr(d.system[:60])}; "
          f"reasoning: {'raw in content' if raw_reasoning else 'in reasoning_content'}", flush=True)
    if not is_loopback(host):
        print(f"warning: listening on {host}: anyone who can reach this machine can use the model", file=sys.stderr)
    print(f"serving {Path(gguf).name} at http://{host}:{port}/v1 (OpenAI-compatible; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
