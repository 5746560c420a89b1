"""Where the studio listens and who may use it (no Gradio here: the rules are tested on their own).

Loopback by default. Any other address needs ``--allow-remote`` and then always asks for a login: the
``--auth USER:PASSWORD`` given, or user ``jaft`` with a random token printed once at start. Public share
links are never created.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass

from jaft.errors import JaftError
from jaft.export.serve import is_loopback

TOKEN_USER = "jaft"


@dataclass
class Access:
    host: str
    port: int
    auth: tuple[str, str] | None  # (user, password) Gradio checks; None: no login (loopback only)
    announce: str | None  # the one-time line with the generated token, if one was generated


def access_for(host: str, port: int, *, allow_remote: bool = False, auth: str | None = None) -> Access:
    """Check ``host``/``port``/``auth`` and decide the login.

    Raises JaftError for a non-loopback host without ``allow_remote``, a malformed ``auth`` (not
    USER:PASSWORD) or a port outside 1–65535.
    """
    if not 0 < port < 65536:
        raise JaftError(f"--port {port}: use a port between 1 and 65535 (default 7860)")
    login: tuple[str, str] | None = None
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise JaftError("--auth must be USER:PASSWORD (both non-empty), e.g. --auth alice:s3cret")
        login = (user, password)
    if is_loopback(host):
        return Access(host, port, login, None)
    if not allow_remote:
        raise JaftError(f"--host {host}: the studio starts training and reads your files, so it listens on "
                        f"127.0.0.1 only; to expose it on {host} add --allow-remote (a login is then required)")
    if login is not None:
        return Access(host, port, login, None)
    token = secrets.token_urlsafe(18)
    return Access(host, port, (TOKEN_USER, token),
                  f"login: user '{TOKEN_USER}', password {token} (shown once; restart for a new one)")


def check_port_free(host: str, port: int) -> None:
    """JaftError naming the port when something already listens there."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise JaftError(f"{host}:{port}: cannot listen ({e.strerror}); choose another --port") from None
