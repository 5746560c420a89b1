"""Run a call into llama.cpp in a child process, so a native crash becomes one ``error:`` line.

llama.cpp is C++: a SIGSEGV, SIGILL or SIGABRT inside it (the AMX weight-repacking crash on Q4_K is
the known one, ggml-org/llama.cpp#20824) kills the whole Python process with no message. Every
stage that loads a GGUF, evaluates it, quantizes or tokenizes with llama.cpp therefore calls
:func:`run_native`, which runs the function in a fresh interpreter (``python -m jaft.export.native``;
not multiprocessing's spawn, which would re-run the caller's main script) and turns a death by signal into a
:class:`NativeCrash` (a :class:`JaftError`: one line, exit code 2) naming the stage, the signal, the
known cause when it is one and the fix. Outputs of finished stages are untouched (each stage writes
atomically and records a reuse marker), so a re-run resumes after them.

``progress`` and ``log`` keyword arguments that are callables are forwarded across the process
boundary (the child gets proxies that send messages back), so progress bars keep working.

Test-only fault injection: ``JAFT_INJECT_NATIVE_CRASH=<pattern>[:<SIGNAME>]`` makes the child of every
stage matching the fnmatch ``pattern`` kill itself with that signal (default SIGSEGV) before running,
so the containment is exercised on any CPU.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from jaft.errors import JaftError

T = TypeVar("T")
INJECT_ENV = "JAFT_INJECT_NATIVE_CRASH"
_FD_ENV = "JAFT_NATIVE_FD"
_FORWARDED = ("progress", "log")
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGILL, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE}


class NativeCrash(JaftError):
    """llama.cpp took its process down; ``stage`` and ``signal_name`` say where and how."""

    def __init__(self, message: str, *, stage: str, signal_name: str | None, known_cause: str = "") -> None:
        super().__init__(message)
        self.stage = stage
        self.signal_name = signal_name
        self.known_cause = known_cause


def injected_signal(stage: str, env: str | None = None) -> int | None:
    """The signal ``JAFT_INJECT_NATIVE_CRASH`` asks ``stage``'s child to die of, or None."""
    spec = os.environ.get(INJECT_ENV, "") if env is None else env
    for item in filter(None, (s.strip() for s in spec.split(","))):
        pattern, _, sig = item.partition(":")
        if fnmatch.fnmatchcase(stage, pattern):
            return int(getattr(signal, sig or "SIGSEGV", signal.SIGSEGV))
    return None


class _Forward:
    """The child's stand-in for a parent callback: calls become messages on the pipe."""

    def __init__(self, name: str, conn: Any) -> None:
        self.name, self.conn = name, conn

    def __call__(self, value: Any) -> None:
        self.conn.send(("call", self.name, value))


def _child_main() -> None:
    """Entry of ``python -m jaft.export.native``: read the job from stdin, answer on the inherited fd."""
    import pickle
    from multiprocessing.connection import Connection

    conn = Connection(int(os.environ[_FD_ENV]))
    stdin = sys.stdin.buffer
    sys.path[:] = pickle.load(stdin)  # the parent's path, so its modules (and a test's) import here
    stage = pickle.load(stdin)
    sig = injected_signal(stage)
    if sig is not None:
        os.kill(os.getpid(), sig)
    fn, args, kwargs = pickle.load(stdin)
    for name in _FORWARDED:
        if kwargs.get(name) is True:
            kwargs[name] = _Forward(name, conn)
    try:
        result = fn(*args, **kwargs)
    except JaftError as e:
        conn.send(("jaft_error", e.message, e.exit_code))
        return
    except BaseException as e:  # re-raised in the parent with its type when it pickles
        import traceback

        text = "".join(traceback.format_exception(e))
        try:
            pickle.loads(pickle.dumps(e))  # the parent must be able to rebuild it
            conn.send(("exception", e, text))
        except Exception:
            conn.send(("exception", None, text))
        return
    conn.send(("result", result))


def _last_native_line(text: str) -> str:
    """The last line llama.cpp/ggml wrote before dying (a GGML_ASSERT, an abort message), if any."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith(("Traceback", "  "))]
    keep = [ln for ln in lines if any(k in ln for k in ("GGML_ASSERT", "error", "abort", "failed", "AMX"))]
    return (keep or lines or [""])[-1][:200]


def known_cause(signum: int | None, extra_bufts: bool | None) -> str:
    """The recognised cause of a crash, or "": AMX repacking, when the load used extra buffer types on an
    AMX CPU (ggml-org/llama.cpp#20824, segfault in ggml_backend_amx_mul_mat on Q4_K_M)."""
    from jaft.hardware import cpu_features

    if signum in _CRASH_SIGNALS and extra_bufts is True and cpu_features().get("amx"):
        return "llama.cpp's AMX weight repacking (extra buffer types) on this CPU (ggml-org/llama.cpp#20824)"
    return ""


def crash_message(stage: str, signum: int | None, exitcode: int | None, detail: str = "",
                  extra_bufts: bool | None = None) -> str:
    """The one line for a child that died: stage, signal, known cause, fix."""
    from jaft.hardware import EXTRA_BUFTS_ENV

    if signum is not None:
        try:
            how = f"killed by {signal.Signals(signum).name}"
        except ValueError:
            how = f"killed by signal {signum}"
    else:
        how = f"exited with code {exitcode} without a result"
    msg = f"{stage}: llama.cpp crashed ({how})"
    if detail:
        msg += f" after printing '{detail}'"
    if cause := known_cause(signum, extra_bufts):
        msg += f"; known cause: {cause}; fix: run again with {EXTRA_BUFTS_ENV}=0 (jaft then loads without them)"
    elif signum == signal.SIGKILL:
        msg += ("; usually the system's out-of-memory killer (see `dmesg`); fix: free memory, or use a smaller "
                "quantization or context")
    else:
        msg += ("; fix: run the same command again (finished stages are kept and reused); if it repeats, "
                "try another llama-cpp-python version or report it with the output of `jaft doctor --json`")
    return msg


@contextlib.contextmanager
def model_params_override(llama_cpp: Any, **fields: Any) -> Iterator[None]:
    """Set fields of the ``llama_model_params`` that ``llama_cpp.Llama`` builds (it exposes no argument for
    ``use_extra_bufts``): its constructor starts from ``llama_model_default_params()``, wrapped here.

    A field this llama.cpp build does not have is skipped (older builds have no extra buffer types).
    """
    from llama_cpp import llama_cpp as low

    original = low.llama_model_default_params
    known = {name for name, _ in low.llama_model_params._fields_}

    def patched():
        params = original()
        for k, v in fields.items():
            if k in known:
                setattr(params, k, v)
        return params

    low.llama_model_default_params = patched
    try:
        yield
    finally:
        low.llama_model_default_params = original


def run_native(stage: str, fn: Callable[..., T], *args: Any, pass_fds: tuple[int, ...] = (), **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` run in a child process; its return value (must pickle) comes back.

    ``fn`` must be importable by name (a module-level function). ``stage`` names the work for the error
    line (e.g. ``"verify q4_k_m"``). An ``extra_bufts=True`` keyword (passed on to ``fn``) marks a load
    with llama.cpp's extra buffer types, so a crash on an AMX CPU names that known cause. ``pass_fds``
    are file descriptors the child inherits under the same numbers (serve: its listening socket).

    A JaftError in the child is re-raised here as a JaftError with the same message; another exception
    is re-raised with its type when it pickles. Death by a signal raises :class:`NativeCrash`. An
    interrupt (Ctrl-C) stops the child (SIGTERM, then SIGKILL after 10 s) before propagating.
    """
    import pickle
    import subprocess
    from multiprocessing.connection import Connection

    extra_bufts = kwargs.get("extra_bufts")
    callbacks = {n: kwargs[n] for n in _FORWARDED if callable(kwargs.get(n))}
    for n in callbacks:
        kwargs[n] = True  # the child replaces True by a forwarding proxy
    # A fresh interpreter (not multiprocessing's spawn, which re-runs the caller's __main__ script).
    r, w = os.pipe()
    # llama.cpp's stderr: its last line goes in the error; closed in the finally below.
    err = tempfile.TemporaryFile(prefix="jaft-native-")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "jaft.export.native"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=err, pass_fds=(w, *pass_fds),
                            env={**os.environ, _FD_ENV: str(w)})
    os.close(w)
    recv = Connection(r)
    try:
        assert proc.stdin is not None
        try:
            pickle.dump(list(sys.path), proc.stdin)
            pickle.dump(stage, proc.stdin)
            pickle.dump((fn, args, kwargs), proc.stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died already; its exit status says how
        outcome: tuple | None = None
        while outcome is None:
            try:
                msg = recv.recv()
            except EOFError:
                break
            if msg[0] == "call":
                callbacks[msg[1]](msg[2])
            else:
                outcome = msg
        code = proc.wait()
        if outcome is None:
            signum = -code if code < 0 else None
            err.seek(0)
            detail = _last_native_line(err.read()[-8192:].decode("utf-8", "replace"))
            raise NativeCrash(crash_message(stage, signum, code, detail, extra_bufts), stage=stage,
                              signal_name=signal.Signals(signum).name if signum else None,
                              known_cause=known_cause(signum, extra_bufts))
        kind = outcome[0]
        if kind == "result":
            return outcome[1]
        if kind == "jaft_error":
            raise JaftError(outcome[1], exit_code=outcome[2])
        if outcome[1] is not None:
            raise outcome[1]
        raise RuntimeError(f"{stage} failed in the llama.cpp child process:\n{outcome[2]}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        recv.close()
        err.close()


if __name__ == "__main__":
    _child_main()
