"""What an error answer holds, shared by the app's handlers and the backtest worker processes:
one bounded ``detail`` line, an ``error`` kind, and for strategy errors where they happened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jbt.errors import StrategyError
from jbt.routes import strategy_location

__all__ = ["bounded", "error_body", "strategy_exit", "strategy_location", "validation_message"]

#: The longest ``detail`` an answer carries (characters); a longer message is cut there.
MAX_DETAIL = 1000
#: The most validation errors listed under ``errors`` (and joined into ``detail``).
MAX_ERRORS = 10
#: Each ``loc`` part and ``msg`` of a validation error is cut to this many characters.
MAX_PART = 100


def bounded(text: str, limit: int = MAX_DETAIL) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f" … ({len(text) - limit:,} more characters)"
    return text[: max(0, limit - len(note))] + note


def error_body(detail: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"detail": bounded(detail), "error": kind, **extra}


def validation_message(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The one-line ``detail`` and the ``errors`` list of a request that does not fit the
    schema: at most MAX_ERRORS items, each part cut to MAX_PART characters, the rest counted."""
    items = []
    for err in errors[:MAX_ERRORS]:
        loc = [bounded(str(p), MAX_PART) for p in err.get("loc", ()) if p != "body"][:8]
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        items.append({"loc": loc, "msg": bounded(msg, MAX_PART * 3),
                      "type": bounded(str(err.get("type", "value_error")), MAX_PART)})
    detail = "; ".join(f"{'.'.join(i['loc']) or 'body'}: {i['msg']}" for i in items)
    more = f"; and {len(errors) - MAX_ERRORS} more errors" if len(errors) > MAX_ERRORS else ""
    return bounded(detail, MAX_DETAIL - len(more)) + more or "invalid request", items


def strategy_exit(exc: BaseException, project_dir: Path) -> StrategyError:
    """A strategy that called ``sys.exit()`` (or raised KeyboardInterrupt) outside the engine's
    loop ends its own request with a StrategyError naming the file and line, never the server."""
    where = strategy_location(exc, project_dir)
    place = f"{where['file']} line {where['line']}" if where["file"] else "a strategy"
    what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else "raised it"
    error = StrategyError(
        f"{place}: {type(exc).__name__}: the strategy {what}; a strategy cannot stop the run "
        "(return from the hook instead)"
    )
    error.__cause__ = exc  # where it happened, for strategy_location
    return error
