"""Ollama Modelfile whose TEMPLATE is derived from the model's own Jinja chat template.

Hand-copied Ollama templates drift from the template the model was trained with. Here the GGUF's
``tokenizer.chat_template`` is rendered with sentinel messages; the text around each sentinel gives
the preamble, system / user / assistant prefixes and suffixes and the generation prompt (R1's ends
in ``<think>\\n``). Those strings are assembled into a Go template in the shape of Ollama's own
templates, and the result is checked: probe conversations rendered through the Jinja template and
through the Go template (``jaft.export.gotemplate``) must give the same text, or nothing is written.

Reasoning: R1 templates drop everything before ``</think>`` from past assistant turns. Ollama keeps
the reasoning of a turn in ``.Thinking`` (the template names it, so Ollama recognises the tags) and
the template leaves it out of the history, which is the same conversation the Jinja template renders.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

_S, _U1, _A1, _U2, _R = "⟦SYSTEM⟧", "⟦USER1⟧", "⟦ASSISTANT1⟧", "⟦USER2⟧", "⟦REASONING⟧"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._\-/]*(:[A-Za-z0-9._\-]+)?$")

# Probe conversations for the equivalence check: Japanese content, a system prompt, reasoning, several
# turns of history, and content with leading/trailing whitespace (a Jinja ``| trim`` that Go cannot do).
PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "富士山の高さは？"}],
    [{"role": "system", "content": "あなたは丁寧な日本語のアシスタントです。"},
     {"role": "user", "content": "自己紹介してください。"}],
    [{"role": "user", "content": "2+3は？"},
     {"role": "assistant", "content": "答えは5です。", "reasoning": "2と3を足すと5。"},
     {"role": "user", "content": "では3×4は？"}],
    [{"role": "system", "content": "簡潔に答えてください。"},
     {"role": "user", "content": "日本の首都は？"},
     {"role": "assistant", "content": "東京です。"},
     {"role": "user", "content": "人口は？"},
     {"role": "assistant", "content": "約1400万人です。", "reasoning": "東京都の人口を思い出す。"},
     {"role": "user", "content": "面積は？"}],
]
WHITESPACE_PROBES: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "  前後に空白がある質問　\n"}],
    [{"role": "system", "content": "\n指示の前後に改行\n"},
     {"role": "user", "content": "質問"},
     {"role": "assistant", "content": " 答え \n"},
     {"role": "user", "content": "次の質問 "}],
]


@dataclass
class TurnFormat:
    """The text a chat template puts around each part of a conversation."""

    preamble: str  # before the first turn when there is no system prompt (default system included)
    system_prefix: str
    system_suffix: str
    user_prefix: str
    user_suffix: str
    assistant_prefix: str
    assistant_suffix: str
    generation_prompt: str
    strips_reasoning: bool
    bos_from_tokenizer: bool  # the template's leading BOS is left to llama.cpp's add_bos


def render_jinja(template: str, messages: list[dict[str, str]], *, add_generation_prompt: bool,
                 bos_token: str, eos_token: str, raw: bool = False) -> str:
    """Render a chat template exactly as training and evaluation do (:func:`jaft.models.chat.render_template`)."""
    from jaft.models.chat import render_template

    return render_template(template, messages, add_generation_prompt=add_generation_prompt,
                           bos_token=bos_token, eos_token=eos_token, raw=raw)


def with_bos(text: str, bos_token: str, add_bos: bool) -> str:
    """The text as the model sees it: BOS once, as the tokenizer's add_bos says (the renderer's rule)."""
    if add_bos and bos_token and not text.startswith(bos_token):
        return bos_token + text
    return text


def _between(text: str, start: str | None, end: str | None) -> str:
    i = text.index(start) + len(start) if start else 0
    j = text.index(end, i) if end else len(text)
    return text[i:j]


def _strip_prefix(s: str, prefix: str, what: str) -> str:
    if not s.startswith(prefix):
        raise JaftError(f"chat template: cannot separate {what} ({s!r} does not start with {prefix!r})")
    return s[len(prefix):]


def _strip_suffix(s: str, suffix: str, what: str) -> str:
    if suffix and not s.endswith(suffix):
        raise JaftError(f"chat template: cannot separate {what} ({s!r} does not end with {suffix!r})")
    return s[: len(s) - len(suffix)] if suffix else s


def derive_turns(template: str, *, bos_token: str, eos_token: str, add_bos: bool) -> TurnFormat:
    """Read the turn structure of ``template`` off renders of sentinel conversations."""
    def r(msgs: list[tuple[str, str]], gen: bool) -> str:
        return render_jinja(template, [{"role": a, "content": b} for a, b in msgs],
                            add_generation_prompt=gen, bos_token=bos_token, eos_token=eos_token, raw=True)

    try:
        u = r([("user", _U1)], False)
        ua = r([("user", _U1), ("assistant", _A1)], False)
        uau = r([("user", _U1), ("assistant", _A1), ("user", _U2)], True)
        su_ = r([("system", _S), ("user", _U1)], False)
        think = r([("user", _U1), ("assistant", f"{_R}</think>{_A1}")], False)
    except JaftError:
        raise
    except Exception as e:
        raise JaftError(f"chat template does not render ({type(e).__name__}: {str(e)[:160]})") from None
    for text, needed in ((u, [_U1]), (ua, [_U1, _A1]), (uau, [_U1, _A1, _U2]), (su_, [_S, _U1])):
        if any(n not in text for n in needed):
            raise JaftError("chat template drops message content or the system prompt; cannot derive a Modelfile")
    user_suffix = _between(u, _U1, None)
    assistant_suffix = _between(ua, _A1, None)
    assistant_prefix = _strip_prefix(_between(ua, _U1, _A1), user_suffix, "the assistant prefix")
    user_prefix = _strip_prefix(_between(uau, _A1, _U2), assistant_suffix, "the user prefix")
    preamble = _strip_suffix(_between(u, None, _U1), user_prefix, "the preamble")
    generation_prompt = _strip_prefix(_between(uau, _U2, None), user_suffix, "the generation prompt")
    system_prefix = _between(su_, None, _S)
    system_suffix = _strip_suffix(_between(su_, _S, _U1), user_prefix, "the system suffix")
    bos_stripped = False
    if add_bos and bos_token and preamble.startswith(bos_token) and system_prefix.startswith(bos_token):
        preamble, system_prefix = preamble[len(bos_token):], system_prefix[len(bos_token):]
        bos_stripped = True
    return TurnFormat(
        preamble=preamble, system_prefix=system_prefix, system_suffix=system_suffix, user_prefix=user_prefix,
        user_suffix=user_suffix, assistant_prefix=assistant_prefix, assistant_suffix=assistant_suffix,
        generation_prompt=generation_prompt, strips_reasoning=_R not in think, bos_from_tokenizer=bos_stripped,
    )


def _assemble(parts: list[tuple[str, str]]) -> str:
    """Join literals and actions; a layout newline goes before an action only where ``{{-`` may trim it."""
    out: list[str] = []
    prev: tuple[str, str] | None = None
    for kind, text in parts:
        if kind == "lit":
            if not text:
                continue
            if "{{" in text or '"""' in text:
                raise JaftError(f"chat template text {text!r} cannot be written into a Modelfile TEMPLATE")
            out.append(text)
        else:
            trimmable = prev is None or prev[0] == "act" or not prev[1][-1:].isspace()
            out.append(("\n{{- " if out else "{{- ") + text + " }}" if trimmable else "{{ " + text + " }}")
        prev = (kind, text) if kind == "act" or text else prev
    return "".join(out)


def go_template(t: TurnFormat, *, thinking: bool) -> str:
    """Ollama TEMPLATE (Go text/template) for turn format ``t``."""
    lit = lambda s: ("lit", s)  # noqa: E731
    act = lambda s: ("act", s)  # noqa: E731
    parts = [act("if .System"), lit(t.system_prefix), act(".System"), lit(t.system_suffix)]
    parts += [act("else"), lit(t.preamble), act("end")] if t.preamble else [act("end")]
    parts += [
        act("range $i, $_ := .Messages"),
        act("$last := eq (len (slice $.Messages $i)) 1"),
        act('if eq .Role "user"'), lit(t.user_prefix), act(".Content"), lit(t.user_suffix),
        act('else if eq .Role "assistant"'), lit(t.assistant_prefix),
    ]
    if thinking:
        # Only a continued last turn shows its reasoning; past turns drop it, as the Jinja template does.
        parts += [act("if and $last .Thinking"), lit("<think>"), act(".Thinking"), lit("</think>"), act("end")]
    parts += [
        act(".Content"), act("if not $last"), lit(t.assistant_suffix), act("end"),
        act("end"),
        act('if and $last (ne .Role "assistant")'), lit(t.generation_prompt), act("end"),
        act("end"),
    ]
    return _assemble(parts)


def render_go(template: str, messages: list[dict[str, str]]) -> str:
    """What Ollama renders for ``messages``: system text in .System, reasoning in .Thinking."""
    from jaft.export.gotemplate import render
    from jaft.models.reasoning import think_text

    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    # A template that names .Thinking makes Ollama parse reasoning out of replies into that field;
    # without it the reasoning stays inside the content, as the model wrote it.
    separate = ".Thinking" in template
    msgs = []
    for m in messages:
        content, reasoning = m["content"], m.get("reasoning", "")
        if reasoning and not separate:
            content, reasoning = think_text(reasoning, content), ""
        msgs.append({"Role": m["role"], "Content": content, "Thinking": reasoning})
    return render(template, {"System": system, "Messages": msgs})


def ollama_prompt(go: str, messages: list[dict[str, str]], *, system: str | None = None) -> str:
    """What Ollama renders for a chat request: the Modelfile's SYSTEM applies when the request has none."""
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": system}, *messages]
    return render_go(go, messages)


def check_equivalent(jinja: str, go: str, *, bos_token: str, eos_token: str, add_bos: bool,
                     probes: list[list[dict[str, str]]] | None = None) -> list[dict[str, Any]]:
    """Render each probe with both templates (BOS as llama.cpp adds it); returns the mismatches."""
    bad = []
    for msgs in PROBES + WHITESPACE_PROBES if probes is None else probes:
        want = with_bos(render_jinja(jinja, msgs, add_generation_prompt=True, bos_token=bos_token,
                                     eos_token=eos_token), bos_token, add_bos)
        got = (bos_token if add_bos and bos_token else "") + render_go(go, msgs)
        if want != got:
            bad.append({"messages": msgs, "jinja": want, "ollama": got,
                        "whitespace_only": msgs in WHITESPACE_PROBES and "".join(want.split()) == "".join(got.split())})
    return bad


@dataclass
class ModelfileResult:
    path: Path
    family: str
    text: str
    turns: TurnFormat
    command: str
    created: bool | None = None
    ollama_output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "family": self.family, "command": self.command, "created": self.created,
                "ollama_output": self.ollama_output, "turns": asdict(self.turns)}


def modelfile_text(gguf_name: str, template: str, *, family: str, stop: list[str], sampling: dict[str, float],
                   source: str, system: str | None = None, notes: list[str] | None = None) -> str:
    lines = [
        f"# Written by `jaft export` for {source}.",
        f"# TEMPLATE derived from the GGUF's own chat template (family: {family}) and checked against it.",
        *[f"# {n}" for n in notes or []],
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{template}"""',
    ]
    if system:
        if '"""' in system:
            raise JaftError('the run\'s system prompt contains """, which a Modelfile SYSTEM cannot hold')
        # The instruction the run trained and was evaluated with: Ollama applies it when a request has none.
        lines.append(f'SYSTEM """{system}"""')
    lines += [f'PARAMETER stop "{s}"' for s in stop]
    lines += [f"PARAMETER {k} {v:g}" for k, v in sampling.items()]
    return "\n".join(lines) + "\n"


def gguf_chat_info(gguf_path: str | Path) -> dict[str, Any]:
    """Chat template, BOS/EOS texts and add_bos of a GGUF file (read from its metadata)."""
    import gguf

    reader = gguf.GGUFReader(str(gguf_path))
    fields = reader.fields

    def get(key: str, default: Any = None) -> Any:
        f = fields.get(key)
        return f.contents() if f is not None else default

    template = get("tokenizer.chat_template")
    if not template:
        raise JaftError(f"{gguf_path}: no tokenizer.chat_template in this GGUF; cannot derive an Ollama TEMPLATE")
    tokens = fields["tokenizer.ggml.tokens"]
    bos_id, eos_id = get("tokenizer.ggml.bos_token_id"), get("tokenizer.ggml.eos_token_id")

    def token(i: int | None) -> str:
        return "" if i is None else bytes(tokens.parts[tokens.data[i]]).decode("utf-8")

    return {"chat_template": template, "bos_token": token(bos_id), "eos_token": token(eos_id),
            "add_bos": bool(get("tokenizer.ggml.add_bos_token", False))}


def parse_modelfile(text: str) -> dict[str, Any]:
    """TEMPLATE, SYSTEM, stop strings and other PARAMETERs of a Modelfile (the subset jaft writes)."""
    out: dict[str, Any] = {"template": None, "system": None, "stop": [], "parameters": {}, "from": None}
    blocks = {m.group(1).lower(): m.group(2) for m in re.finditer(r'^(TEMPLATE|SYSTEM) """(.*?)"""', text, re.S | re.M)}
    out["template"], out["system"] = blocks.get("template"), blocks.get("system")
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[0] == "FROM":
            out["from"] = parts[1]
        elif len(parts) == 3 and parts[0] == "PARAMETER":
            value = parts[2].strip()
            value = value[1:-1] if value.startswith('"') and value.endswith('"') else value
            if parts[1] == "stop":
                out["stop"].append(value)
            else:
                out["parameters"][parts[1]] = value
        elif len(parts) >= 2 and parts[0] == "SYSTEM" and out["system"] is None and not parts[1].startswith('"""'):
            out["system"] = line.split(None, 1)[1]
    return out


def valid_name(name: str) -> str:
    if not _NAME.match(name):
        raise JaftError(
            f"--ollama-name {name!r}: use lower-case letters, digits, '.', '-', '_' and an optional :tag "
            "(e.g. r1-ja:q4_k_m)"
        )
    return name


def derive_go_template(chat_template: str, *, bos_token: str, eos_token: str, add_bos: bool
                       ) -> tuple[str, TurnFormat, list[str]]:
    """(Go TEMPLATE, turn format, notes) checked against ``chat_template``; refuses one it cannot reproduce.

    Only content whitespace may differ (a Jinja ``| trim``, as Llama-3's template has, has no Go
    counterpart in Ollama); that is stated in the notes. Any other difference is an error.
    """
    turns = derive_turns(chat_template, bos_token=bos_token, eos_token=eos_token, add_bos=add_bos)
    go = go_template(turns, thinking=turns.strips_reasoning or "<think>" in turns.generation_prompt)
    mismatches = check_equivalent(chat_template, go, bos_token=bos_token, eos_token=eos_token, add_bos=add_bos)
    real = [m for m in mismatches if not m["whitespace_only"]]
    if real:
        m = real[0]
        raise JaftError(
            f"derived Ollama template renders differently from the model's chat template "
            f"(jinja {m['jinja'][-80:]!r} vs ollama {m['ollama'][-80:]!r}); no Modelfile written"
        )
    notes = ["The chat template trims whitespace around message content; Ollama's Go templates cannot, so "
             "messages with leading/trailing whitespace render differently."] if mismatches else []
    return go, turns, notes


def build_modelfile(
    chat_template: str, *, bos_token: str, eos_token: str, add_bos: bool, gguf_name: str, source: str = "this model",
    system: str | None = None,
) -> tuple[str, TurnFormat, str]:
    """(Modelfile text, turn format, family) for a chat template; refuses a template it cannot reproduce.

    ``system``: the run's instruction (what training and evaluation used), written as SYSTEM.
    """
    from jaft.models.templates import TEMPLATES
    from jaft.registry import detect_template_family

    family = detect_template_family(chat_template)
    go, turns, notes = derive_go_template(chat_template, bos_token=bos_token, eos_token=eos_token, add_bos=add_bos)
    facts = TEMPLATES.get(family)
    stop = list(facts.stop) if facts else [eos_token]
    sampling = dict(facts.sampling) if facts else {}
    text = modelfile_text(gguf_name, go, family=family, stop=stop, sampling=sampling, source=source,
                          system=system, notes=notes)
    return text, turns, family


def write_modelfile(
    gguf_path: str | Path, out: str | Path, *, name: str, source: str = "this model", system: str | None = None,
) -> ModelfileResult:
    """Derive, check and write the Modelfile for ``gguf_path`` (placed beside it) at ``out``.

    ``system``: the run's instruction, so Ollama asks the way the model was trained and evaluated.
    """
    from jaft.fsutil import write_text

    gguf_path, out = Path(gguf_path), Path(out)
    command = f"ollama create {valid_name(name)} -f {out.name}"
    info = gguf_chat_info(gguf_path)
    text, turns, family = build_modelfile(
        info["chat_template"], bos_token=info["bos_token"], eos_token=info["eos_token"], add_bos=info["add_bos"],
        gguf_name=gguf_path.name, source=source, system=system,
    )
    write_text(out, text)
    return ModelfileResult(out, family, text, turns, f"cd {out.parent} && {command}")


def ollama_create(result: ModelfileResult, name: str) -> ModelfileResult:
    """Run ``ollama create`` when the binary is on PATH; otherwise leave the command to the user."""
    exe = shutil.which("ollama")
    if exe is None:
        result.created = None
        return result
    try:
        r = subprocess.run([exe, "create", name, "-f", result.path.name], cwd=result.path.parent,
                           capture_output=True, text=True, timeout=3600, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        result.created, result.ollama_output = False, f"{type(e).__name__}: {e}"
        return result
    result.created = r.returncode == 0
    result.ollama_output = (r.stdout + r.stderr).strip()[-2000:]
    return result
