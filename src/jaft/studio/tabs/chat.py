"""Chat tab: talk to a run's model (HF) or an exported GGUF (llama.cpp); reasoning shown collapsed."""

from __future__ import annotations

import html
from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio.chat import ChatModel, open_model, split_reasoning
from jaft.studio.context import Studio, error_line, on_change
from jaft.studio.i18n import t


def _get(studio: Studio, path: str) -> ChatModel:
    """The loaded model for ``path`` (loaded once per studio; later pages reuse it)."""
    key = str(studio.jobs.resolve(path))
    with studio.chat_lock:
        if key not in studio.chat_models:
            studio.chat_models[key] = open_model(key)
        return studio.chat_models[key]


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    with gr.Row():
        source = gr.Textbox(label=t("chat_source", lang), elem_id="chat-source", scale=4)
        load = gr.Button(t("load", lang), elem_id="chat-load", scale=1)
    info = gr.Markdown(elem_id="chat-info")
    system = gr.Textbox(label=t("system_prompt", lang), lines=2, elem_id="chat-system")
    bot = gr.Chatbot(label=t("tab_chat", lang), height=360, elem_id="chat-bot", buttons=["copy", "copy_all"])
    with gr.Row():
        text = gr.Textbox(label=t("message", lang), elem_id="chat-message", scale=5)
        send = gr.Button(t("send", lang), variant="primary", elem_id="chat-send", scale=1)
        clear = gr.Button(t("clear", lang), elem_id="chat-clear", scale=1)
    with gr.Row():
        tokens = gr.Slider(16, 1024, value=128, step=16, label=t("max_new_tokens", lang))
        temperature = gr.Slider(0.0, 1.5, value=0.0, step=0.05, label=t("temperature", lang))
    history = gr.State([])  # answers only, as the model sees the conversation (no reasoning)
    on_change(shared, [shared["run_dir"]], studio.rel, [shared["run_dir"]], [source])

    def do_load(path: str):
        path = str(path or "").strip()
        if not path:
            return error_line(t("chat_source", lang), lang), gr.update()
        if not studio.jobs.resolve(path).exists():
            return error_line(f"{path}: not found", lang), gr.update()
        try:
            m = _get(studio, path)
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        trained = m.trained_system_prompt
        line = (f"{t('loaded', lang)}: **{m.name}** ({m.kind})\n\n"
                f"{t('trained_with', lang)}: " + (f"「{html.escape(trained)}」" if trained else "—"))
        return line, trained or ""

    def do_send(path: str, message: str, system_v: str, hist: list[dict[str, str]], shown: list[Any],
                tokens_v: float, temp_v: float):
        message = str(message or "").strip()
        if not message:
            return gr.skip(), hist, shown, gr.skip()
        try:
            m = _get(studio, str(path or "").strip())
            raw = m.reply(hist, message, system_v or None, int(tokens_v), float(temp_v))
        except JaftError as e:
            return error_line(e.message, lang), hist, shown, gr.skip()
        reasoning, answer = split_reasoning(raw, m.think_in_prompt)
        shown = [*shown, {"role": "user", "content": message}]
        if reasoning:
            shown.append({"role": "assistant", "content": reasoning,
                          "metadata": {"title": t("reasoning", lang), "status": "done"}})
        shown.append({"role": "assistant", "content": answer or "…"})
        hist = [*hist, {"role": "user", "content": message}, {"role": "assistant", "content": answer}]
        return gr.skip(), hist, shown, ""

    load.click(do_load, source, [info, system])
    send_args = dict(fn=do_send, inputs=[source, text, system, history, bot, tokens, temperature],
                     outputs=[info, history, bot, text])
    send.click(**send_args)
    text.submit(**send_args)
    clear.click(lambda: ([], []), outputs=[history, bot])
