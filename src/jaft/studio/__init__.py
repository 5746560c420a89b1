"""``jaft studio``: a local web UI (Gradio) over the same ``jaft`` commands.

Nothing here is a second implementation of a stage: data prepare, train, GRPO, eval and export run as
background processes of the real CLI (``python -m jaft …``, the command line the UI shows), and the UI
reads their progress from the run directory they write. Only reading (runs, metrics, reports) and chat
happen in-process, through the library's own functions.

Modules: ``i18n`` (ja/en strings), ``jobs`` (background processes), ``commands`` (form → argv and
checks), ``runs`` (run directories and metrics), ``chat`` (HF / GGUF chat adapter), ``server`` (bind
and auth rules), ``app`` and ``tabs`` (the Gradio layout; the only modules that import gradio).
"""
