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


def make_app(gguf: str | Path, *, n_ctx: int = 4096, threads: int | None = None, name: str | None = None):
    """The FastAPI app of llama_cpp.server for ``gguf`` (chat template from the file's metadata)."""
    path = check_gguf_file(gguf)
    try:
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError as e:
        raise JaftError(f"serving needs llama-cpp-python with its server extra ({e.name} missing): "
                        "pip install 'jaft[gguf]'") from None
    model = ModelSettings(model=str(path), model_alias=name or path.stem, n_ctx=n_ctx, verbose=False,
                          **({"n_threads": threads, "n_threads_batch": threads} if threads else {}))
    return create_app(server_settings=ServerSettings(), model_settings=[model])


def serve(gguf: str | Path, *, host: str = "127.0.0.1", port: int = 8000, n_ctx: int = 4096,
          threads: int | None = None, name: str | None = None) -> None:
    """Serve until interrupted."""
    import uvicorn

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            raise JaftError(f"{host}:{port}: cannot listen ({e.strerror}); choose another --port") from None
    app = make_app(gguf, n_ctx=n_ctx, threads=threads, name=name)
    if not is_loopback(host):
        print(f"warning: listening on {host}: anyone who can reach this machine can use the model", file=sys.stderr)
    print(f"serving {Path(gguf).name} at http://{host}:{port}/v1 (OpenAI-compatible; Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
