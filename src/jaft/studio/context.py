"""What every tab shares: the working directory, the job manager and the loaded chat models."""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.studio.i18n import t
from jaft.studio.jobs import Job, JobManager


@dataclass
class Studio:
    workdir: Path
    jobs: JobManager
    chat_models: dict[str, Any] = field(default_factory=dict)
    chat_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def at(cls, workdir: str | Path) -> Studio:
        wd = Path(workdir).resolve()
        return cls(wd, JobManager(wd))

    def rel(self, path: str | Path | None) -> str:
        """``path`` relative to the working directory when it lies inside it (what the user typed)."""
        if not path:
            return ""
        p = Path(path)
        try:
            return str(p.relative_to(self.workdir))
        except ValueError:
            return str(p)


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def status_line(studio: Studio, job: Job | None, lang: str) -> str:
    """Markdown: the job's state in words, its id and exit code."""
    if job is None:
        return t("no_job", lang)
    state = studio.jobs.status(job)
    rc = (studio.jobs.get(job.id) or job).returncode
    tail = f" (exit {rc})" if rc not in (None, 0) and state != "stopped" else ""
    return f"**{t(state, lang)}**{tail} — `{job.id}`"


def error_line(message: str, lang: str) -> str:
    return f"**{t('error', lang)}**: {message}"


def progress_html(fraction: float | None, label: str = "") -> str:
    """A native <progress> bar (indeterminate when ``fraction`` is None)."""
    bar = ('<progress style="width:100%"></progress>' if fraction is None else
           f'<progress style="width:100%" value="{max(0.0, min(1.0, fraction)):.3f}" max="1"></progress>')
    return f'<div class="jaft-progress">{bar}<small>{html.escape(label)}</small></div>'


def poll(seconds: float, fn: Any, outputs: list, shared: dict[str, Any], inputs: list | None = None) -> None:
    """Refresh ``outputs`` from ``fn(*inputs)`` when a page opens, when its tab is selected and then
    every ``seconds`` while that tab stays selected, sending only the values that changed since this
    page's last refresh.

    Why so frugal: on each event it handles, Gradio's page deep-copies the shown value of the
    components with a loading status (its ``update_loading_stati_state``, most of the page's time in a
    Chromium CPU profile during a run), so four tabs ticking every 1–2 s cost the browser work on every
    tick whatever was shown. Only the selected tab's timer runs (:func:`wire_polls`), and a value the
    page already shows goes as ``gr.skip()`` (compared by ``repr``: strings, tables as lists, numbers;
    other objects, a DataFrame or an update, are always sent: ``fn`` decides those itself). The core
    the studio used to keep busy was mostly :func:`wire_changes`'s loop.
    """
    import gradio as gr

    inputs = list(inputs or [])
    sent = gr.State(None)  # per page: the repr of each value this page was last sent

    def refresh(*args: Any) -> tuple:
        *values_in, last = args
        out, keys = only_changed(fn(*values_in), last)
        return (*out, keys)

    timer = gr.Timer(seconds, active=False)
    timer.tick(refresh, inputs=[*inputs, sent], outputs=[*outputs, sent])
    shared["load"].append((refresh, [*outputs, sent], [*inputs, sent]))
    shared.setdefault("polls", []).append((shared["tab"], timer, refresh, [*inputs, sent], [*outputs, sent]))


def wire_polls(tabs: dict[str, Any], shared: dict[str, Any]) -> None:
    """Selecting a tab refreshes it at once and runs its timers alone (:func:`poll`): one listener per
    tab, as :func:`wire_changes` explains."""
    import gradio as gr

    polls = shared.get("polls", [])
    timers = [timer for _, timer, *_ in polls]
    for key, tab in tabs.items():
        mine = [(refresh, inputs, outputs) for k, _, refresh, inputs, outputs in polls if k == key]
        switch = (lambda key=key: [gr.Timer(active=k == key) for k, *_ in polls], [], timers)
        fn, inputs, outputs = _combined([switch, *mine])
        tab.select(fn, inputs=inputs, outputs=outputs)


def on_change(shared: dict[str, Any], components: list, fn: Any, inputs: list, outputs: list) -> None:
    """Run ``fn(*inputs)`` into ``outputs`` when any of ``components`` changes (wired by :func:`wire_changes`)."""
    changes = shared.setdefault("changes", {})
    for c in components:
        changes.setdefault(c._id, (c, []))[1].append((fn, list(inputs), list(outputs)))


def wire_changes(shared: dict[str, Any]) -> None:
    """One ``change`` listener per component, running every function registered with :func:`on_change`.

    Gradio 6's page fires a component's ``change`` event again and again, without end, once it has two
    or more listeners (measured on 6.31: a textbox with two listeners sent 180 requests in 5 s after
    one edit, one listener with both outputs sent 2; gradio-app/gradio#12346 is the open report). In the
    studio a typed model path kept the browser and the server busy (a core and a third of one)."""
    for component, listeners in shared.get("changes", {}).values():
        fn, inputs, outputs = _combined(listeners)
        component.change(fn, inputs=inputs, outputs=outputs)


def _combined(listeners: list[tuple[Any, list, list]]) -> tuple[Any, list, list]:
    """One Gradio function for several ``(fn, inputs, outputs)``: the union of the inputs, the outputs
    side by side (each output component set by one of them only)."""
    if len(listeners) == 1:
        return listeners[0]
    inputs: list = []
    for _, ins, _ in listeners:
        inputs += [c for c in ins if all(c is not x for x in inputs)]
    outputs = [c for _, _, outs in listeners for c in outs]
    if len({c._id for c in outputs}) != len(outputs):
        raise ValueError("two listeners of one event set the same component")
    where = [[next(k for k, x in enumerate(inputs) if x is c) for c in ins] for _, ins, _ in listeners]

    def run(*values: Any) -> list:
        out: list = []
        for (fn, _, outs), idx in zip(listeners, where, strict=True):
            result = fn(*[values[k] for k in idx])
            out += [result] if len(outs) == 1 else list(result) if outs else []
        return out

    return run, inputs, outputs


def only_changed(values: Any, last: Any) -> tuple[list[Any], list[str | None]]:
    """``(updates, keys)``: ``values`` with each one equal to the one at the same place in the previous
    call (``last``, that call's ``keys``; anything else means none) replaced by ``gr.skip()``, and the
    keys to pass next time (``repr`` of strings, numbers, None and lists or tuples of them; None for
    other objects, which are always sent)."""
    import gradio as gr

    values = list(values)
    last = last if isinstance(last, list) and len(last) == len(values) else [None] * len(values)
    keys = [repr(v) if _plain(v) else None for v in values]
    return [gr.skip() if k is not None and k == old else v for v, k, old in zip(values, keys, last, strict=True)], keys


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False
