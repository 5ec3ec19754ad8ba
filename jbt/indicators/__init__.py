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

from jbt.indicators._cache import run_cache
from jbt.indicators._source import SOURCE_TYPES, IndicatorError, get_candle_source
from jbt.indicators.helpers import (
    HeikinAshi,
    crossed,
    heikin_ashi,
    heikin_ashi_candles,
    highest,
    lowest,
    zscore,
)
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
from jbt.indicators.volume import ad, adosc, cmf, obv, vwap

#: Every indicator that takes candles, by name (aliases included).
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
    )
}

__all__ = [
    "AO", "AROON", "DI", "MACD", "MA_TYPES", "SOURCE_TYPES", "BollingerBands", "DonchianChannel",
    "HeikinAshi", "IchimokuCloud", "IndicatorError", "INDICATORS", "KeltnerChannel",
    "Stochastic", "StochasticRSI", "SuperTrend", "crossed", "get_candle_source", "run_cache",
    *INDICATORS,
]
