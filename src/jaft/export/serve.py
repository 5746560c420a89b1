"""A local OpenAI-compatible endpoint for a GGUF through llama-cpp-python's server (the RAG entry point).

The parent process owns the listening socket and supervises: llama.cpp and the server run in a child
(:func:`jaft.export.native.run_native`). When llama.cpp crashes under a request, the parent prints one
line and starts a new child on the same socket (clients queue in its backlog meanwhile), at most
``max_restarts`` times in ``RESTART_WINDOW_S``; a crash that happened with extra buffer types on is
retried without them. A model that does not load is one error line, exit 2, no restart.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

GGUF_MAGIC = b"GGUF"
RESTART_WINDOW_S = 600.0


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
    from jaft.export.gguf import read_metadata

    try:
        read_metadata(p)  # a truncated file or an unknown tensor type fails here, not inside llama.cpp
    except JaftError as e:
        raise JaftError(f"{e.message}; re-run `jaft export` to rewrite it") from None
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
             extra_bufts: bool = True, system: str | None = None, raw_reasoning: bool = False,
             modelfile: str | Path | None = None):
    """The FastAPI app of llama_cpp.server for ``gguf``, prompts and replies handled as jaft deploys them.

    ``system``: the instruction for requests without a system message; default the SYSTEM of the
    Modelfile beside the GGUF (the run's instruction, as evaluated), "" for none. Replies carry the
    reasoning in ``reasoning_content`` and the answer alone in ``content`` unless ``raw_reasoning``.
    ``extra_bufts`` is llama.cpp's ``use_extra_bufts`` (weight repacking at load; see
    jaft.hardware.llama_extra_bufts). Loads the model: call it in the serve child process.
    """
    path = check_gguf_file(gguf)
    try:
        import llama_cpp
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as e:
        raise JaftError(f"serving needs llama-cpp-python with its server extra ({e.name} missing): "
                        "pip install 'jaft[gguf]'") from None
    from jaft.export.native import model_params_override

    deployed = _deployed(path, system, modelfile)
    model = ModelSettings(model=str(path), model_alias=name or path.stem, n_ctx=n_ctx, verbose=False,
                          chat_format=register_chat_handler(deployed),
                          **({"n_threads": threads, "n_threads_batch": threads} if threads else {}))
    try:
        with model_params_override(llama_cpp, use_extra_bufts=extra_bufts):
            app = create_app(server_settings=ServerSettings(), model_settings=[model])
    except (ValueError, RuntimeError, OSError) as e:
        raise JaftError(f"{path}: llama.cpp cannot load this GGUF ({type(e).__name__}: {str(e)[:160]}); "
                        "re-run `jaft export` to rewrite it") from None
    app.state.jaft_deployed = deployed
    if not raw_reasoning:
        from jaft.export.serve_split import ReasoningSplitMiddleware

        app.add_middleware(ReasoningSplitMiddleware, in_think=deployed.opens_think)
    return app


def _deployed(path: Path, system: str | None, modelfile: str | Path | None) -> Any:
    """What serve deploys: the GGUF's template with the Modelfile's SYSTEM beside it, or ``system``."""
    from jaft.export.gguf_chat import deployed_from_gguf

    mf = Path(modelfile) if modelfile else path.parent / "Modelfile"
    deployed = deployed_from_gguf(path, modelfile=mf if (modelfile or mf.is_file()) else None)
    if system is not None:
        deployed.system = system or None
    return deployed


def _crash_on_chat(app: Any, signum: int) -> Any:
    """Test-only: an ASGI wrapper that kills the process on the first chat request (native crash stand-in)."""
    import os

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and str(scope.get("path", "")).endswith("/chat/completions"):
            os.kill(os.getpid(), signum)
        await app(scope, receive, send)

    return wrapped


def serve_in_child(fd: int, gguf: str, *, n_ctx: int, threads: int | None, name: str | None, extra_bufts: bool,
                   generation: int, system: str | None = None, raw_reasoning: bool = False,
                   log: Any = None) -> None:
    """Child side: load the model, say "ready", serve on the inherited socket ``fd`` until stopped."""
    import uvicorn

    from jaft.export.native import injected_signal

    sock = socket.socket(fileno=fd)
    app = make_app(gguf, n_ctx=n_ctx, threads=threads, name=name, extra_bufts=extra_bufts, system=system,
                   raw_reasoning=raw_reasoning)
    if (sig := injected_signal(f"serve request #{generation}")) is not None:
        app = _crash_on_chat(app, sig)
    if log:
        log("ready")
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        free_server_model()


def free_server_model() -> None:
    """Close the model llama_cpp.server keeps in a module global.

    Left to interpreter shutdown, the Llama is freed after llama.cpp's backend and the process dies of
    SIGSEGV on its way out (seen at the end of the test suite: exit code 139 after every test passed).
    """
    server_app = sys.modules.get("llama_cpp.server.app")
    if server_app is None:
        return
    proxy, server_app._llama_proxy = server_app._llama_proxy, None
    model = getattr(proxy, "_current_model", None)
    if model is not None:
        model.close()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise JaftError(f"{host}:{port}: cannot listen ({e.strerror}); choose another --port") from None
    sock.set_inheritable(True)
    return sock


def serve(gguf: str | Path, *, host: str = "127.0.0.1", port: int = 8000, n_ctx: int = 4096,
          threads: int | None = None, name: str | None = None, max_restarts: int = 3,
          system: str | None = None, raw_reasoning: bool = False) -> None:
    """Serve until interrupted, restarting a crashed llama.cpp backend (at most ``max_restarts`` times
    in ``RESTART_WINDOW_S`` seconds); see :func:`make_app` for ``system`` and ``raw_reasoning``."""
    import importlib.util

    from jaft.export.native import NativeCrash, run_native
    from jaft.hardware import llama_extra_bufts

    path = check_gguf_file(gguf)
    for mod, pkg in (("llama_cpp", "llama-cpp-python"), ("uvicorn", "uvicorn"), ("fastapi", "fastapi")):
        if importlib.util.find_spec(mod) is None:
            raise JaftError(f"serving needs {pkg} (llama-cpp-python's server extra): pip install 'jaft[gguf]'")
    extra_bufts, why = llama_extra_bufts()
    d = _deployed(path, system, None)
    sock = _listen(host, port)
    deployed = (f"prompt: {d.source}; system prompt: {'(none)' if not d.system else repr(d.system[:60])}; "
                f"reasoning: {'raw in content' if raw_reasoning else 'in reasoning_content'}")
    if not is_loopback(host):
        print(f"warning: listening on {host}: anyone who can reach this machine can use the model", file=sys.stderr)
    crashes: list[float] = []
    generation = 0
    started = [False]

    def on_log(msg: str) -> None:
        if msg != "ready":
            return
        if not started[0]:
            started[0] = True
            print(f"serving {path.name} at http://{host}:{port}/v1 (OpenAI-compatible; Ctrl-C stops); "
                  f"llama.cpp in a supervised child process, extra buffer types {why}; {deployed}", flush=True)
        else:
            print(f"serve: llama.cpp backend restarted (start {generation})", file=sys.stderr, flush=True)

    try:
        while True:
            generation += 1
            try:
                run_native(f"serve #{generation}", serve_in_child, sock.fileno(), str(path), n_ctx=n_ctx,
                           threads=threads, name=name, extra_bufts=extra_bufts, generation=generation,
                           system=system, raw_reasoning=raw_reasoning, log=on_log, pass_fds=(sock.fileno(),))
                return  # the server stopped normally (SIGTERM/SIGINT to the child)
            except NativeCrash as e:
                if not started[0]:
                    raise  # the model never loaded: a restart would crash the same way
                now = time.monotonic()
                crashes = [t for t in crashes if now - t < RESTART_WINDOW_S] + [now]
                cause = f"; known cause: {e.known_cause}" if e.known_cause else ""
                if len(crashes) > max_restarts:
                    raise JaftError(
                        f"serve: llama.cpp crashed {len(crashes)} times in {RESTART_WINDOW_S / 60:.0f} min "
                        f"(last: {e.signal_name or 'no result'}){cause}; giving up: check `jaft doctor`, try "
                        "JAFT_LLAMA_EXTRA_BUFTS=0 or another quantization (--quant q8_0)"
                    ) from None
                note = ""
                if extra_bufts and e.known_cause:
                    extra_bufts, why = False, "off after a crash with them on"
                    note = " without extra buffer types"
                print(f"serve: llama.cpp backend crashed ({e.signal_name or 'no result'}){cause}; "
                      f"restarting{note} ({len(crashes)}/{max_restarts} in {RESTART_WINDOW_S / 60:.0f} min)",
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        sock.close()
