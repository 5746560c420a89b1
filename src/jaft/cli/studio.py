from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "studio"
ORDER = 70


def main(
    host: Annotated[str, typer.Option("--host", help="listen address (loopback by default; others need --allow-remote)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="listen port")] = 7860,
    workdir: Annotated[str, typer.Option("--workdir", help="where runs, data and models are read and written (relative paths in the UI start here)")] = ".",
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="allow a non-loopback --host; a login is then required")] = False,
    auth: Annotated[str | None, typer.Option("--auth", help="USER:PASSWORD login (default with --allow-remote: user 'jaft' and a random token printed once)", show_default=False)] = None,
) -> None:
    """Web UI (Japanese first; English at /en/): Model → Data → Train → Eval → Export → Chat, and Runs.

    Every stage runs the same `jaft …` command the UI shows, as a background process, so a run started
    here is the same as one started from a terminal. Listens on 127.0.0.1 only, unless --allow-remote
    (then with a login). No public share links. Needs `pip install 'jaft[studio]'`.
    """
    import time
    from pathlib import Path

    from jaft.errors import JaftError
    from jaft.studio.server import access_for, check_port_free

    t0 = time.perf_counter()
    access = access_for(host, port, allow_remote=allow_remote, auth=auth)
    if not Path(workdir).is_dir():
        raise JaftError(f"--workdir {workdir}: no such directory; create it or pass an existing one")
    check_port_free(host, port)
    import os

    from jaft.studio.app import OFFLINE_ENV

    for k, v in OFFLINE_ENV.items():  # before Gradio is imported: it reads them at import time
        os.environ.setdefault(k, v)
    import importlib.util

    if importlib.util.find_spec("gradio") is None:
        raise JaftError("the studio needs Gradio: pip install 'jaft[studio]'")
    from jaft.studio.app import serve

    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"

    def ready() -> None:
        print(f"jaft studio: {url} (English: {url}en/), ready in {time.perf_counter() - t0:.1f} s; Ctrl-C stops",
              flush=True)
        if access.announce:
            print(access.announce, flush=True)

    serve(workdir, access, on_ready=ready)
