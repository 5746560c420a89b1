"""The one exception type users see: a problem plus the fix, printed on one line with exit code 2."""

from __future__ import annotations


class JaftError(Exception):
    """A user-facing error. The CLI prints ``error: <message>`` and exits with ``exit_code``.

    ``message`` names the problem (with file and line where there is one) and the fix; it must fit
    on one line so scripts and humans can both read it.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """`"; did you mean 'x'?"` for the closest choice, or `""` when nothing is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""
