from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "serve"
ORDER = 66


def main(
    gguf: Annotated[str, typer.Option("--gguf", help="GGUF file to serve (e.g. OUT/model-q4_k_m.gguf)")],
    host: Annotated[str, typer.Option("--host", help="listen address; anything but loopback exposes the model")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="listen port")] = 8000,
    n_ctx: Annotated[int, typer.Option("--n-ctx", help="context length in tokens")] = 4096,
    threads: Annotated[int | None, typer.Option("--threads", help="CPU threads (default: llama.cpp's choice)", show_default=False)] = None,
    name: Annotated[str | None, typer.Option("--name", help="model id clients send (default: the file name)", show_default=False)] = None,
    max_restarts: Annotated[int, typer.Option("--max-restarts", help="restarts of a crashed llama.cpp backend allowed within 10 minutes")] = 3,
    system: Annotated[str | None, typer.Option("--system", help="instruction for requests without a system message (default: the SYSTEM of the Modelfile beside the GGUF, i.e. the run's; \"\" for none)", show_default=False)] = None,
    raw_reasoning: Annotated[bool, typer.Option("--raw-reasoning", help="return the model's text as is (no reasoning_content split)")] = False,
) -> None:
    """Serve a GGUF as an OpenAI-compatible API (llama.cpp server): POST /v1/chat/completions.

    Bound to 127.0.0.1 by default; the chat template comes from the GGUF and the run's instruction from
    the Modelfile beside it, so requests are built as training and evaluation built them. Replies put
    the reasoning in `reasoning_content` and the answer alone in `content` (streaming too). A RAG system
    points its OpenAI client at `http://127.0.0.1:8000/v1`. llama.cpp runs in a supervised child process:
    a crash is reported on one line and the backend restarted. On CPUs with AMX, llama.cpp's extra buffer
    types (weight repacking) are off; `JAFT_LLAMA_EXTRA_BUFTS=1` or `0` forces them on or off.
    """
    from jaft.export.serve import serve

    serve(gguf, host=host, port=port, n_ctx=n_ctx, threads=threads, name=name, max_restarts=max_restarts,
          system=system, raw_reasoning=raw_reasoning)
