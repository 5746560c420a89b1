"""A small evaluator for the subset of Go ``text/template`` that jaft's Ollama templates use.

Ollama renders Modelfile TEMPLATEs with Go's text/template. To check a generated template against the
model's Jinja chat template without an ``ollama`` binary, jaft evaluates it here. Supported: text,
``{{- … -}}`` whitespace trimming, ``if / else if / else / end``, ``range [$i, $x :=] … / end``,
``$v := …`` and ``$v = …``, fields (``.Role``, ``$.Messages``, ``$v.Content``), string / integer /
boolean literals, parentheses, and the functions ``eq ne and or not len slice index``. Anything else is
a :class:`GoTemplateError`, so the emitted templates cannot silently drift outside what is tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class GoTemplateError(ValueError):
    pass


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+)|(?P<decl>:=)|(?P<assign>=)'
    r"|(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))"
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass
class _Node:
    kind: str  # text | print | if | range | decl | assign
    text: str = ""
    expr: list[Any] = field(default_factory=list)
    branches: list[tuple[list[Any], list[_Node]]] = field(default_factory=list)  # if: (cond, body)
    body: list[_Node] = field(default_factory=list)
    else_body: list[_Node] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _lex_expr(src: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    src = src.strip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise GoTemplateError(f"cannot parse {src[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        out.append((kind, m.group(kind)))
        while pos < len(src) and src[pos].isspace():
            pos += 1
    return out


def _parse_pipeline(tokens: list[tuple[str, str]], i: int = 0, stop: str | None = None) -> tuple[list[Any], int]:
    """A command: a list of operands (the first may be a function name); nested parens become lists."""
    cmd: list[Any] = []
    while i < len(tokens):
        kind, val = tokens[i]
        if kind == "rp":
            if stop != "rp":
                raise GoTemplateError("unbalanced ')'")
            return cmd, i + 1
        if kind == "lp":
            sub, i = _parse_pipeline(tokens, i + 1, "rp")
            cmd.append(("sub", sub))
            continue
        if kind in ("decl", "assign", "comma"):
            raise GoTemplateError(f"unexpected {val!r}")
        cmd.append((kind, val))
        i += 1
    if stop == "rp":
        raise GoTemplateError("missing ')'")
    return cmd, i


def _split_action(body: str) -> tuple[str, str]:
    body = body.strip()
    word = body.split(None, 1)[0] if body else ""
    if word in ("if", "range", "else", "end", "with", "define", "template", "block"):
        return word, body[len(word):].strip()
    return "", body


def parse(template: str) -> list[_Node]:
    """Parse ``template`` into a node tree (raises :class:`GoTemplateError` on unsupported syntax)."""
    # 1. Lex into text and actions, applying trim markers.
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(template):
        text = template[pos:m.start()]
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        parts.append(("text", text))
        parts.append(("action", m.group(2)))
        pos = m.end()
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip(" \t\r\n"))
    parts.append(("text", template[pos:]))
    if "{{" in "".join(t for k, t in parts if k == "text"):
        raise GoTemplateError("unterminated action")

    # 2. Build the tree.
    root: list[_Node] = []
    stack: list[tuple[_Node, list[_Node]]] = []
    current = root
    for kind, val in parts:
        if kind == "text":
            if val:
                current.append(_Node("text", text=val))
            continue
        if val.strip().startswith("/*"):
            continue
        word, rest = _split_action(val)
        if word == "if":
            cond, _ = _parse_pipeline(_lex_expr(rest))
            node = _Node("if", branches=[(cond, [])])
            current.append(node)
            stack.append((node, current))
            current = node.branches[0][1]
        elif word == "range":
            names: list[str] = []
            toks = _lex_expr(rest)
            if any(k == "decl" for k, _ in toks):
                d = next(j for j, (k, _) in enumerate(toks) if k == "decl")
                names = [v for k, v in toks[:d] if k == "var"]
                toks = toks[d + 1:]
            expr, _ = _parse_pipeline(toks)
            node = _Node("range", expr=expr, names=names)
            current.append(node)
            stack.append((node, current))
            current = node.body
        elif word == "else":
            if not stack:
                raise GoTemplateError("{{else}} outside if/range")
            node, _parent = stack[-1]
            if rest.startswith("if "):
                if node.kind != "if":
                    raise GoTemplateError("{{else if}} inside range")
                cond, _ = _parse_pipeline(_lex_expr(rest[3:]))
                node.branches.append((cond, []))
                current = node.branches[-1][1]
            elif rest:
                raise GoTemplateError(f"unsupported else clause {rest!r}")
            else:
                current = node.else_body
        elif word == "end":
            if not stack:
                raise GoTemplateError("{{end}} without if/range")
            _node, current = stack.pop()
        elif word:
            raise GoTemplateError(f"'{word}' is not in jaft's Go template subset")
        else:
            toks = _lex_expr(rest)
            if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] in ("decl", "assign"):
                expr, _ = _parse_pipeline(toks[2:])
                current.append(_Node("decl" if toks[1][0] == "decl" else "assign", expr=expr, names=[toks[0][1]]))
            else:
                expr, _ = _parse_pipeline(toks)
                current.append(_Node("print", expr=expr))
    if stack:
        raise GoTemplateError("missing {{end}}")
    return root


def _truthy(v: Any) -> bool:
    return bool(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else v != 0


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        if name not in obj:
            raise GoTemplateError(f"can't evaluate field {name}")
        return obj[name]
    if hasattr(obj, name):
        return getattr(obj, name)
    raise GoTemplateError(f"can't evaluate field {name}")


def _unquote(s: str) -> str:
    out, i = [], 1
    while i < len(s) - 1:
        c = s[i]
        if c == "\\":
            nxt = s[i + 1]
            if nxt not in _ESCAPES:
                raise GoTemplateError(f"unsupported escape \\{nxt}")
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class _Scope:
    def __init__(self, root: Any) -> None:
        self.frames: list[dict[str, Any]] = [{"$": root}]

    def get(self, name: str) -> Any:
        for f in reversed(self.frames):
            if name in f:
                return f[name]
        raise GoTemplateError(f"undefined variable {name}")

    def set(self, name: str, value: Any) -> None:
        for f in reversed(self.frames):
            if name in f:
                f[name] = value
                return
        raise GoTemplateError(f"undefined variable {name}")


def _eq(a: Any, *bs: Any) -> bool:
    return any(a == b for b in bs)


_FUNCS = {
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "not": lambda a: not _truthy(a),
    "len": len,
    "slice": lambda x, *ij: x[ij[0]:ij[1]] if len(ij) == 2 else x[ij[0]:] if ij else x,
    "index": lambda x, *ks: _index(x, ks),
}


def _index(x: Any, keys: tuple[Any, ...]) -> Any:
    for k in keys:
        x = x[k]
    return x


class _Evaluator:
    def __init__(self, data: Any) -> None:
        self.scope = _Scope(data)
        self.out: list[str] = []

    def operand(self, tok: tuple[str, Any], dot: Any) -> Any:
        kind, val = tok
        if kind == "sub":
            return self.command(val, dot)
        if kind == "str":
            return _unquote(val)
        if kind == "raw":
            return val[1:-1]
        if kind == "num":
            return int(val)
        if kind == "field":
            obj = dot
            for name in [p for p in val.split(".") if p]:
                obj = _field(obj, name)
            return obj
        if kind == "var":
            head, *rest = val.split(".")
            obj = self.scope.get(head)
            for name in rest:
                obj = _field(obj, name)
            return obj
        if kind == "ident":
            if val in ("true", "false"):
                return val == "true"
            if val == "nil":
                return None
            raise GoTemplateError(f"function {val} used as a value")
        raise GoTemplateError(f"unexpected token {val!r}")

    def command(self, cmd: list[Any], dot: Any) -> Any:
        if not cmd:
            raise GoTemplateError("empty command")
        head = cmd[0]
        if head[0] == "ident" and head[1] not in ("true", "false", "nil"):
            name = head[1]
            if name == "and":  # Go's and/or short-circuit and return an operand
                v: Any = True
                for t in cmd[1:]:
                    v = self.operand(t, dot)
                    if not _truthy(v):
                        return v
                return v
            if name == "or":
                v = False
                for t in cmd[1:]:
                    v = self.operand(t, dot)
                    if _truthy(v):
                        return v
                return v
            if name not in _FUNCS:
                raise GoTemplateError(f"function '{name}' is not in jaft's Go template subset")
            return _FUNCS[name](*(self.operand(t, dot) for t in cmd[1:]))
        if len(cmd) != 1:
            raise GoTemplateError("a value cannot take arguments")
        return self.operand(head, dot)

    def run(self, nodes: list[_Node], dot: Any) -> None:
        for n in nodes:
            if n.kind == "text":
                self.out.append(n.text)
            elif n.kind == "print":
                v = self.command(n.expr, dot)
                self.out.append("" if v is None else ("true" if v is True else "false" if v is False else str(v)))
            elif n.kind == "decl":
                self.scope.frames[-1][n.names[0]] = self.command(n.expr, dot)
            elif n.kind == "assign":
                self.scope.set(n.names[0], self.command(n.expr, dot))
            elif n.kind == "if":
                for cond, body in n.branches:
                    if _truthy(self.command(cond, dot)):
                        self.block(body, dot)
                        break
                else:
                    self.block(n.else_body, dot)
            elif n.kind == "range":
                items = self.command(n.expr, dot)
                if not items:
                    self.block(n.else_body, dot)
                    continue
                for i, item in enumerate(items):
                    self.scope.frames.append({})
                    if len(n.names) == 1:
                        self.scope.frames[-1][n.names[0]] = item
                    elif len(n.names) == 2:
                        self.scope.frames[-1][n.names[0]] = i
                        self.scope.frames[-1][n.names[1]] = item
                    self.run(n.body, item)
                    self.scope.frames.pop()

    def block(self, nodes: list[_Node], dot: Any) -> None:
        self.scope.frames.append({})
        self.run(nodes, dot)
        self.scope.frames.pop()


def render(template: str, data: dict[str, Any]) -> str:
    """Render ``template`` with ``data`` as Go's text/template would (for the supported subset)."""
    ev = _Evaluator(data)
    ev.run(parse(template), data)
    return "".join(ev.out)
