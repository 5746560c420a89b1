"""The layout (seven tabs in the order of the job) and the server (Japanese at ``/``, English at ``/en/``)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from jaft.studio.context import Studio, wire_changes, wire_polls
from jaft.studio.i18n import t
from jaft.studio.server import Access

# Gradio must not reach the network: no analytics or version check, no share tunnel, no MCP server.
# No run history either: Gradio 6 records every event's inputs and outputs in the browser's localStorage,
# timer ticks included, and offers to sync them to a Hub bucket. Run logs and paths have no business
# there, and rewriting the list on every tick was 15% of the page's time in a Chromium CPU profile
# taken during a run.
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SHARE": "False", "GRADIO_MCP_SERVER": "False",
               "GRADIO_RUN_HISTORY": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}

CSS = """
.jaft-progress small { color: var(--body-text-color-subdued); }
footer { display: none !important; }
.jaft-log textarea { font-family: ui-monospace, monospace; font-size: 12px; white-space: pre; }
"""


def build_blocks(studio: Studio, lang: str):
    """The ``gr.Blocks`` of one language."""
    import gradio as gr

    from jaft.studio.tabs import chat, data, evaluate, export, model, runs, train

    shared: dict[str, Any] = {"load": [], "after": []}
    with gr.Blocks(title="jaft studio") as demo:
        with gr.Row():
            gr.Markdown(f"## {t('title', lang)}")
            gr.Markdown(f"{t('switch', lang)} · {t('workdir', lang)}: `{studio.workdir}`", elem_id="lang-switch")
        tabs = {}
        with gr.Tabs():
            for key, mod in (("tab_model", model), ("tab_data", data), ("tab_train", train), ("tab_eval", evaluate),
                             ("tab_export", export), ("tab_chat", chat), ("tab_runs", runs)):
                with gr.Tab(t(key, lang), id=key, elem_id=key.replace("_", "-")) as tabs[key]:
                    shared["tab"] = key
                    mod.build(studio, lang, shared)
        for wire in shared["after"]:
            wire()
        wire_changes(shared)
        wire_polls(tabs, shared)
        for item in shared["load"]:
            fn, outputs, *inputs = item
            demo.load(fn, inputs=inputs[0] if inputs else None, outputs=outputs)
    return demo


def make_app(studio: Studio, access: Access, on_ready: Any = None):
    """A FastAPI app holding both languages, with the login when ``access`` asks for one.

    ``on_ready()`` is called once the server accepts connections.
    """
    from contextlib import asynccontextmanager

    import gradio as gr
    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(_app):
        if on_ready is not None:
            on_ready()
        yield

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    common: dict[str, Any] = dict(
        auth=access.auth, allowed_paths=[str(studio.workdir)], ssr_mode=False, pwa=False, mcp_server=False,
        enable_monitoring=False, footer_links=[], css=CSS, server_name=access.host, server_port=access.port,
    )
    if "run_history" in inspect.signature(gr.mount_gradio_app).parameters:  # Gradio releases before it have none
        common["run_history"] = False
    # "/en" first: the app mounted at "/" would otherwise answer for it.
    gr.mount_gradio_app(app, build_blocks(studio, "en"), path="/en", **common)
    gr.mount_gradio_app(app, build_blocks(studio, "ja"), path="", **common)
    return app


def serve(workdir: str | Path, access: Access, *, on_ready: Any = None) -> None:
    """Run the studio until interrupted."""
    for k, v in OFFLINE_ENV.items():
        os.environ.setdefault(k, v)
    import uvicorn

    studio = Studio.at(workdir)
    app = make_app(studio, access, on_ready)
    config = uvicorn.Config(app, host=access.host, port=access.port, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run()
