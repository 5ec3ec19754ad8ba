"""One spelling of a trading pair everywhere: ``BASE-QUOTE`` in upper case (``BTC-USDT``).

:func:`normalize_symbol` is what routes.py, the command line, the HTTP API and the importers
all call, so ``btc-usdt``, ``btc/usdt``, ``BTC_USDT`` and ccxt's ``BTC/USDT:USDT`` name the same
stored candles. A pair written without a separator (``BTCUSDT``) is refused before anything
else happens (no request, no database), with a guess at what was meant: a stored or listed
symbol with the same letters, or a split before a common quote currency.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from jbt.errors import InputError

#: What a symbol looks like once normalised: letters and digits, one ``-`` between base and
#: quote. ASCII only: a full-width letter is not the same symbol.
SYMBOL_PATTERN = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}", re.ASCII)
_SEPARATORS = re.compile(r"\s*[/_-]\s*")
#: Quote currencies tried, longest first, to split a pair written without a separator.
COMMON_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "DAI", "EUR", "GBP", "JPY",
                 "TRY", "BRL", "AUD", "BTC", "ETH", "BNB")


def normalize_symbol(symbol: object, *, known: Iterable[str] = (), label: str = "") -> str:
    """``symbol`` in our spelling, or InputError with a "did you mean".

    Accepted separators are ``-``, ``/`` and ``_``; a ccxt settle suffix (``:USDT``) is dropped.
    ``known`` are symbols to suggest from (stored or listed ones); ``label`` is appended to each
    of them in the message (``" (stored)"``).
    """
    text = str(symbol).strip().upper()
    text = text.split(":", 1)[0]
    text = _SEPARATORS.sub("-", text)
    if SYMBOL_PATTERN.fullmatch(text):
        return text
    hint = did_you_mean(text, known, label=label)
    if not hint:
        split = _split_on_quote(text)
        hint = f"; did you mean {split}?" if split else ""
    raise InputError(f"symbol '{symbol}' must be written BASE-QUOTE, like BTC-USDT{hint}")


def compact(symbol: str) -> str:
    """The letters and digits of a symbol, upper case: ``btc/usdt`` and ``BTCUSDT`` agree."""
    return "".join(ch for ch in str(symbol).upper() if ch.isascii() and ch.isalnum())


def close_symbols(wanted: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Known symbols with the same letters as ``wanted``, else the closest spellings."""
    known = sorted(set(known))
    same = [s for s in known if compact(s) == compact(wanted) and s != wanted]
    if same:
        return same[:n]
    return [s for s in difflib.get_close_matches(str(wanted).upper(), known, n=n, cutoff=0.6)
            if s != wanted]


def did_you_mean(wanted: str, known: Iterable[str], *, label: str = "") -> str:
    """``"; did you mean BTC-USD (stored)?"`` or ``""`` when nothing is close."""
    close = close_symbols(wanted, known)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"{s}{label}" for s in close) + "?"


def _split_on_quote(text: str) -> str | None:
    letters = compact(text)
    for quote in COMMON_QUOTES:
        if letters.endswith(quote) and len(letters) > len(quote):
            guess = f"{letters[: -len(quote)]}-{quote}"
            if SYMBOL_PATTERN.fullmatch(guess):
                return guess
    return None


__all__ = ["SYMBOL_PATTERN", "close_symbols", "compact", "did_you_mean", "normalize_symbol"]
