"""Errors the user can fix: shown as one line, exit code non-zero, traceback only with --debug."""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path


class JbtError(Exception):
    """A problem the user can act on. The message is one line that says what and how to fix."""

    exit_code = 1


class ConfigError(JbtError):
    """config.toml is missing a value, has an unknown key, or a value of the wrong type."""


class InputError(JbtError):
    """A command-line or API argument is invalid (date, symbol, exchange, timeframe...)."""

    exit_code = 2


class ExchangeError(JbtError):
    """The exchange could not be reached or answered with an error after all retries."""


class CandlesMissingError(JbtError):
    """The candles a backtest needs are not in the database."""


class StrategyError(JbtError):
    """User strategy code raised; the message names the file, line and bar time."""


class Cancelled(JbtError):
    """Work stopped because it was asked to (Ctrl-C, ``DELETE /jobs/ID``, shutdown) while it
    was waiting; what was saved before is kept."""

    exit_code = 130


class Interrupted(KeyboardInterrupt):
    """The user's Ctrl-C, as raised by the command line's SIGINT handler.

    A plain ``KeyboardInterrupt`` raised by strategy code is the strategy's error, not the
    user's: the engine reports it as a :class:`StrategyError` and lets this one through.
    """


# ------------------------------------------------------------------ where user code raised


def raised_at(exc: BaseException, is_user_file: Callable[[str], bool]) -> tuple[str, int] | None:
    """The innermost place in a user file (``is_user_file(filename)``) where ``exc`` or one of
    its causes was raised: a traceback frame, or where a SyntaxError points. The one place that
    answers "which strategy line raised" for the engine, the API and the strategy loader."""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, SyntaxError) and cause.filename and cause.lineno:
            if is_user_file(cause.filename):
                return cause.filename, cause.lineno
        for frame in reversed(traceback.extract_tb(cause.__traceback__)):
            if is_user_file(frame.filename):
                return frame.filename, frame.lineno or 0
        cause = cause.__cause__ or cause.__context__
    return None


def locate_strategy_error(exc: BaseException, user_files: set[str], time_ms: int) -> BaseException:
    """``exc`` raised during a run as a :class:`StrategyError` naming the strategy's file, line
    and the bar's time (``exc`` itself when no strategy file is involved, or for the user's
    Ctrl-C)."""
    if isinstance(exc, Interrupted):  # the user's Ctrl-C: not the strategy's doing
        return exc

    def is_user(filename: str) -> bool:
        return os.path.normcase(os.path.abspath(filename)) in user_files

    where = raised_at(exc, is_user)
    if where is None:
        return exc
    if isinstance(exc, KeyboardInterrupt):
        frames = traceback.extract_tb(exc.__traceback__)
        if not frames or not is_user(frames[-1].filename):
            return exc  # raised elsewhere while the strategy ran: a Ctrl-C, not the strategy's
    filename, line = where
    what = str(exc) if isinstance(exc, JbtError) else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SystemExit):
        what = (f"SystemExit: the strategy called sys.exit({exc.code!r}); a strategy cannot "
                "stop the run (return from the hook instead)")
    elif isinstance(exc, KeyboardInterrupt):
        what = ("KeyboardInterrupt: raised by the strategy, not by Ctrl-C; a strategy cannot "
                "stop the run (return from the hook instead)")
    when = datetime.fromtimestamp(time_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return StrategyError(f"{display_path(filename)} line {line} at {when}: {what}")


def display_path(filename: str) -> str:
    """A strategy file as users know it: from its ``strategies/`` folder on, else relative."""
    parts = Path(filename).parts
    if "strategies" in parts:
        i = len(parts) - 1 - parts[::-1].index("strategies")
        return "/".join(parts[i:])
    try:
        rel = os.path.relpath(filename)
    except ValueError:
        return filename
    return filename if rel.startswith("..") else rel.replace(os.sep, "/")
