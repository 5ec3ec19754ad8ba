"""Compare jbt's indicators with Jesse's own, value by value, on real candles.

Run it with a Python that has Jesse installed (``bench/jesse_compare.py --setup`` makes one
under ``~/.cache/jbt-bench``); jbt is imported from this repository:

    ~/.cache/jbt-bench/jesse-venv/bin/python bench/jesse_indicators.py [NAME ...]

For every indicator both have, with Jesse's default arguments (plus a few variants), both
compute the whole series (``sequential=True``) on the bundled Coinbase BTC-USD hourly candles.
Where both have a value, the largest difference relative to the series' scale is printed; a
value jbt leaves as NaN (its warm-up) while Jesse has one is counted apart, and so is the
reverse. Recursive indicators depend on where the data starts; both start at the same candle.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N = 3000

#: name -> list of keyword-argument variants (the first is Jesse's defaults)
VARIANTS: dict[str, list[dict]] = {
    "ma": [{"matype": m, "period": 14} for m in (0, 1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15,
                                                 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 27, 28,
                                                 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39)],
    "chande": [{}, {"direction": "short"}],
    "devstop": [{}, {"direction": "short"}],
    "kaufmanstop": [{}, {"direction": "short"}],
    "safezonestop": [{}, {"direction": "short"}],
}


def load() -> np.ndarray:
    raw = np.loadtxt(ROOT / "jbt" / "data" / "coinbase-BTC-USD-1h.csv", delimiter=",",
                     skiprows=1)
    ts, o, h, lo, c, v = raw[:N].T
    return np.ascontiguousarray(np.column_stack([ts, o, c, h, lo, v]))


def numbers(v) -> np.ndarray:
    """A result as floats: None -> NaN, "buy"/"sell" -> 1/-1, bools -> 1/0."""
    arr = np.asarray(v, dtype=object).ravel() if np.ndim(v) else np.array([v], dtype=object)
    table = {None: np.nan, "buy": 1.0, "sell": -1.0}
    return np.array([table.get(x, x) if isinstance(x, (str, type(None))) else float(x)
                     for x in arr], dtype=np.float64)


def as_list(value) -> list[tuple[str, np.ndarray]]:
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return [(f, numbers(v)) for f, v in zip(value._fields, value, strict=True)]
    return [("", numbers(value))]


def compare(a: np.ndarray, b: np.ndarray) -> tuple[float, int, int, int]:
    """(max scaled difference, compared, jbt-only NaN, jesse-only NaN)."""
    a = np.atleast_1d(a)
    b = np.atleast_1d(b)
    if a.shape != b.shape:
        return float("inf"), 0, 0, 0
    both = ~np.isnan(a) & ~np.isnan(b)
    only_jbt_nan = int((np.isnan(a) & ~np.isnan(b)).sum())
    only_jesse_nan = int((~np.isnan(a) & np.isnan(b)).sum())
    if not both.any():
        return float("nan"), 0, only_jbt_nan, only_jesse_nan
    x, y = a[both], b[both]
    scale = np.maximum(np.abs(y), np.median(np.abs(y)) + 1e-300)
    return float(np.max(np.abs(x - y) / scale)), int(both.sum()), only_jbt_nan, only_jesse_nan


def main() -> None:
    warnings.simplefilter("ignore")
    import jesse.indicators as jta

    import jbt.indicators as ta

    candles = load()
    wanted = sys.argv[1:] or sorted(n for n in dir(jta) if not n.startswith("_")
                                    and callable(getattr(jta, n)))
    print(f"{'indicator':32} {'output':16} {'max rel diff':>12} {'compared':>8} "
          f"{'jbt NaN':>8} {'Jesse NaN':>9}")
    worst = []
    for name in wanted:
        if not hasattr(ta, name):
            print(f"{name:32} missing in jbt")
            continue
        for kwargs in VARIANTS.get(name, [{}]):
            label = name + ("(" + ",".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
                            if kwargs else "")
            extra = ()
            if name in ("beta", "rsmk"):
                extra = (candles[::-1].copy(),)
            try:
                theirs = getattr(jta, name)(candles, *extra, sequential=True, **kwargs)
            except TypeError:
                theirs = getattr(jta, name)(candles, *extra, **kwargs)
            except Exception as exc:  # noqa: BLE001
                print(f"{label:32} Jesse raised {type(exc).__name__}: {exc}")
                continue
            try:
                try:
                    ours = getattr(ta, name)(candles, *extra, sequential=True, **kwargs)
                except TypeError:
                    ours = getattr(ta, name)(candles, *extra, **kwargs)
            except Exception as exc:  # noqa: BLE001
                print(f"{label:32} jbt raised {type(exc).__name__}: {exc}")
                continue
            for (field, a), (_, b) in zip(as_list(ours), as_list(theirs), strict=False):
                diff, n, jn, en = compare(a, b)
                worst.append((diff, label, field))
                print(f"{label:32} {field:16} {diff:12.3g} {n:8d} {jn:8d} {en:9d}")


if __name__ == "__main__":
    main()
