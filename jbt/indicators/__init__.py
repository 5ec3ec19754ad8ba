"""Technical indicators for strategies: ``import jbt.indicators as ta``.

Calling convention (Jesse's): ``ta.rsi(self.candles, period=14)``.

* ``candles`` is an (n, 6) float64 array in ``[timestamp, open, close, high, low, volume]``
  order. Indicators of a single price series also accept a 1-D array (``source_type`` is then
  ignored).
* ``source_type`` picks the series: open, close, high, low, volume, hl2, hlc3, ohlc4.
* ``sequential=False`` (default) returns the value for the last candle as a float;
  ``sequential=True`` returns the whole series, one value per candle. Multi-output indicators
  return named tuples (e.g. ``MACD(macd, signal, hist)``), of floats or of arrays.

Names: Jesse's. Where the issue's name differs from Jesse's, both exist and give the same
values: ``psar``/``sar``, ``ichimoku``/``ichimoku_cloud``, ``heikin_ashi``/
``heikin_ashi_candles``, ``stochrsi``/``srsi``, ``smma``/``rma`` (``rma`` takes ``length``).

Rules:

* Warm-up: while there are too few candles for a value (e.g. fewer than ``period`` for an
  SMA), ``sequential=True`` gives NaN for those candles, and the last value
  (``sequential=False``) raises :class:`IndicatorError` "ta.sma: too few candles (29) ...":
  bad input, like a period < 1. For a multi-output indicator, one output without a value is
  enough.
* Errors: empty candles, a wrongly shaped array, a period < 1 (or below an indicator's own
  minimum), an unknown ``source_type`` / ``matype`` / ``devtype`` raise :class:`IndicatorError`
  (a ``ValueError`` and ``jbt.errors.InputError``) naming the indicator and argument, e.g.
  ``ta.rsi: period must be >= 1 (got 0)``.
* Causality: every value at candle ``k`` depends only on candles ``0..k``. Nothing is shifted
  from the future (ichimoku returns the cloud at the current candle, without the chikou span).
* History: windowed indicators (sma, wma, highest, donchian, bollinger_bands, ...) depend only
  on their window. Recursive ones (ema, dema, tema, smma, kama, rsi, cmo, atr, adx, di, trix,
  macd, keltner, supertrend, psar, obv, ad, adosc, heikin_ashi) are seeded as TA-Lib does, with
  the simple mean of the first ``period`` inputs (ATR: of true ranges 1..period; adosc and
  heikin_ashi: the first value), so they depend on where the data starts, with an influence
  decaying geometrically. Measured on real hourly BTC data, the difference falls below 1e-9
  relative after about 20 x period candles of history for EMA-type smoothing (ema, dema, tema,
  macd, trix) and 30 x period for Wilder-type smoothing (smma, rsi, cmo, atr, natr, adx, di,
  keltner, supertrend, stochrsi) and kama, psar and adosc: size the backtest's warm-up
  accordingly. obv and ad are running totals: their level depends on the start, their changes
  do not.
* Speed: inside :func:`run_cache` (opened by the backtest engine) a call on the strategy's
  candles computes the full series once per run and then costs about a microsecond per call;
  see :mod:`jbt.indicators._cache`.
"""

import sys as _sys
import types as _types

from jbt.indicators import filters as _filters
from jbt.indicators import hilbert as _hilbert
from jbt.indicators import more_averages as _more_averages
from jbt.indicators import oscillators as _oscillators
from jbt.indicators import statistics as _statistics
from jbt.indicators import stops as _stops
from jbt.indicators import volume as _volume_module
from jbt.indicators._cache import run_cache
from jbt.indicators._source import SOURCE_TYPES, IndicatorError, get_candle_source
from jbt.indicators.filters import *  # noqa: F403 - the family modules list their names
from jbt.indicators.helpers import (
    HeikinAshi,
    crossed,
    heikin_ashi,
    heikin_ashi_candles,
    highest,
    lowest,
    zscore,
)
from jbt.indicators.hilbert import *  # noqa: F403
from jbt.indicators.momentum import (
    AO,
    MACD,
    Stochastic,
    StochasticRSI,
    ao,
    cci,
    cmo,
    macd,
    mfi,
    mom,
    ppo,
    roc,
    rsi,
    srsi,
    stoch,
    stochrsi,
    trix,
    ultosc,
    willr,
)
from jbt.indicators.more_averages import *  # noqa: F403
from jbt.indicators.moving_averages import (
    MA_TYPES,
    dema,
    ema,
    hma,
    kama,
    ma,
    rma,
    sma,
    smma,
    tema,
    trima,
    vwma,
    wma,
)
from jbt.indicators.oscillators import *  # noqa: F403
from jbt.indicators.statistics import *  # noqa: F403
from jbt.indicators.stops import *  # noqa: F403
from jbt.indicators.trend import (
    AROON,
    DI,
    IchimokuCloud,
    SuperTrend,
    adx,
    aroon,
    di,
    ichimoku,
    ichimoku_cloud,
    linearreg,
    linearreg_slope,
    psar,
    sar,
    supertrend,
)
from jbt.indicators.volatility import (
    BollingerBands,
    DonchianChannel,
    KeltnerChannel,
    atr,
    bollinger_bands,
    donchian,
    keltner,
    natr,
    stddev,
    trange,
)
from jbt.indicators.volume import (
    VPCI,
    VWMACD,
    Volume,
    ad,
    adosc,
    cmf,
    efi,
    emv,
    kvo,
    marketfi,
    nvi,
    obv,
    pvi,
    volume,  # after the submodule import above rebound the name
    vosc,
    vpci,
    vpt,
    vwap,
    vwmacd,
    wad,
)

_FAMILIES = (_filters, _hilbert, _more_averages, _oscillators, _statistics, _stops)

#: Every indicator by name (aliases included): the ones that take candles first.
INDICATORS = {
    f.__name__: f
    for f in (
        sma, ema, wma, hma, dema, tema, trima, kama, vwma, smma, rma, ma,
        rsi, macd, stoch, stochrsi, srsi, cci, mfi, roc, mom, willr, cmo, trix, ultosc, ao, ppo,
        adx, di, aroon, psar, sar, supertrend, ichimoku, ichimoku_cloud, linearreg,
        linearreg_slope,
        atr, natr, trange, bollinger_bands, keltner, donchian, stddev,
        obv, ad, adosc, cmf, vwap,
        highest, lowest, zscore, heikin_ashi, heikin_ashi_candles,
        efi, emv, kvo, marketfi, nvi, pvi, volume, vosc, vpci, vpt, vwmacd, wad,
    )
}
for _family in _FAMILIES:
    for _name in _family.__all__:
        _obj = getattr(_family, _name)
        if callable(_obj) and not isinstance(_obj, type):
            INDICATORS[_name] = _obj


def _register_submodules() -> None:
    """One importable module per indicator, as Jesse lays them out:
    ``from jbt.indicators.chande import chande``. Each holds the function and its result's
    named tuple; the real code lives in the family modules. Registered in ``sys.modules`` when
    the package loads, so importing one never rebinds the package attribute ``ta.chande``."""
    families = (_filters, _hilbert, _more_averages, _oscillators, _statistics, _stops,
                _volume_module, _sys.modules[__name__ + ".momentum"],
                _sys.modules[__name__ + ".moving_averages"], _sys.modules[__name__ + ".trend"],
                _sys.modules[__name__ + ".volatility"], _sys.modules[__name__ + ".helpers"])
    tuples = {}
    for family in families:
        for value in vars(family).values():
            if isinstance(value, type) and issubclass(value, tuple) and hasattr(value, "_fields"):
                tuples.setdefault(value.__module__, []).append(value)
    for name, func in INDICATORS.items():
        full = f"{__name__}.{name}"
        if full in _sys.modules:  # a real module of that name (volume): it has the function
            continue
        module = _types.ModuleType(full, f"Jesse's module for ``{name}``: "
                                         f"``from jbt.indicators.{name} import {name}``.")
        module.__dict__[name] = func
        exported = [name]
        for nt in tuples.get(func.__module__, ()):
            module.__dict__[nt.__name__] = nt
            exported.append(nt.__name__)
        module.__all__ = exported
        _sys.modules[full] = module


_register_submodules()

__all__ = [
    "AO", "AROON", "DI", "MACD", "MA_TYPES", "SOURCE_TYPES", "BollingerBands", "DonchianChannel",
    "HeikinAshi", "IchimokuCloud", "IndicatorError", "INDICATORS", "KeltnerChannel",
    "Stochastic", "StochasticRSI", "SuperTrend", "VPCI", "VWMACD", "Volume", "crossed",
    "get_candle_source", "run_cache", *INDICATORS,
]
