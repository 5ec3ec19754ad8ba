"""Indicators match TA-Lib on the real hourly BTC-USD sample, or an independent formula.

Tolerance: 1e-9 relative to the value, or to the series' median magnitude where an oscillator
crosses zero (a relative error means nothing at 0). Comparisons start where TA-Lib has a value,
plus a burn-in only for MACD, whose EMAs TA-Lib seeds at a different bar (the seed's influence
decays geometrically; see ta.macd).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import jbt.indicators as ta

talib = pytest.importorskip("talib")

RTOL = 1e-9


def assert_matches(ours, theirs, burn_in: int = 0, skip=None) -> None:
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape
    valid = np.flatnonzero(~np.isnan(theirs))
    assert len(valid) > 100, "the oracle produced almost nothing"
    idx = valid[valid >= valid[0] + burn_in]
    if skip is not None:
        idx = idx[~skip[idx]]
    a, b = ours[idx], theirs[idx]
    assert not np.isnan(a).any(), f"NaN where the oracle has values (first at {idx[np.isnan(a)][0]})"
    scale = np.maximum(np.abs(b), np.median(np.abs(b)))
    err = np.abs(a - b) / scale
    worst = int(np.argmax(err))
    assert err[worst] <= RTOL, f"index {idx[worst]}: {a[worst]!r} != {b[worst]!r}"


def _kama(x, period, fast, slow):
    """KAMA with other fast/slow lengths (TA-Lib fixes them at 2/30): the textbook loop,
    seeded like TA-Lib with the value at index ``period - 1``."""
    out = np.full(len(x), np.nan)
    fast_sc, slow_sc = 2 / (fast + 1), 2 / (slow + 1)
    prev = x[period - 1]
    for i in range(period, len(x)):
        change = abs(x[i] - x[i - period])
        vol = np.abs(np.diff(x[i - period:i + 1])).sum()
        er = 1.0 if vol <= change or vol < 1e-8 else change / vol
        prev = prev + (er * (fast_sc - slow_sc) + slow_sc) ** 2 * (x[i] - prev)
        out[i] = prev
    return out


def cols(c):
    return c[:, 1], c[:, 3], c[:, 4], c[:, 2], c[:, 5]  # open, high, low, close, volume


TALIB_CASES = {
    "sma": (lambda c: ta.sma(c, 20, sequential=True), lambda o, h, lo, cl, v: talib.SMA(cl, 20)),
    "sma_hl2": (lambda c: ta.sma(c, 9, "hl2", sequential=True),
                lambda o, h, lo, cl, v: talib.SMA((h + lo) / 2, 9)),
    "ema": (lambda c: ta.ema(c, 20, sequential=True), lambda o, h, lo, cl, v: talib.EMA(cl, 20)),
    "ema_ohlc4": (lambda c: ta.ema(c, 50, "ohlc4", sequential=True),
                  lambda o, h, lo, cl, v: talib.EMA((o + h + lo + cl) / 4, 50)),
    "ema_long": (lambda c: ta.ema(c, 500, sequential=True),
                 lambda o, h, lo, cl, v: talib.EMA(cl, 500)),
    "ema_1": (lambda c: ta.ema(c, 1, sequential=True), lambda o, h, lo, cl, v: talib.EMA(cl, 1)),
    "rsi_long": (lambda c: ta.rsi(c, 100, sequential=True),
                 lambda o, h, lo, cl, v: talib.RSI(cl, 100)),
    "sma_long": (lambda c: ta.sma(c, 777, sequential=True),
                 lambda o, h, lo, cl, v: talib.SMA(cl, 777)),
    "highest_long": (lambda c: ta.highest(c, 333, sequential=True),
                     lambda o, h, lo, cl, v: talib.MAX(h, 333)),
    "wma": (lambda c: ta.wma(c, 30, sequential=True), lambda o, h, lo, cl, v: talib.WMA(cl, 30)),
    "hma": (lambda c: ta.hma(c, 16, sequential=True), lambda o, h, lo, cl, v: talib.HMA(cl, 16)),
    "dema": (lambda c: ta.dema(c, 30, sequential=True),
             lambda o, h, lo, cl, v: talib.DEMA(cl, 30)),
    "tema": (lambda c: ta.tema(c, 9, sequential=True), lambda o, h, lo, cl, v: talib.TEMA(cl, 9)),
    "trima_even": (lambda c: ta.trima(c, 30, sequential=True),
                   lambda o, h, lo, cl, v: talib.TRIMA(cl, 30)),
    "trima_odd": (lambda c: ta.trima(c, 21, sequential=True),
                  lambda o, h, lo, cl, v: talib.TRIMA(cl, 21)),
    "kama": (lambda c: ta.kama(c, 10, sequential=True), lambda o, h, lo, cl, v: talib.KAMA(cl, 10)),
    **{f"ma_{code}": (lambda c, code=code: ta.ma(c, 10, matype=code, sequential=True),
                      lambda o, h, lo, cl, v, code=code: talib.MA(cl, 10, matype=code))
       for code in range(7)},  # sma, ema, wma, dema, tema, trima, kama
    "kama_fast_slow": (lambda c: ta.kama(c, 10, 3, 20, sequential=True),
                       lambda o, h, lo, cl, v: _kama(cl, 10, 3, 20)),
    "keltner_middle": (lambda c: ta.keltner(c, 20, sequential=True).middleband,
                       lambda o, h, lo, cl, v: talib.EMA(cl, 20)),
    "donchian_lower": (lambda c: ta.donchian(c, 20, sequential=True).lowerband,
                       lambda o, h, lo, cl, v: talib.MIN(lo, 20)),
    "bb_ema": (lambda c: ta.bollinger_bands(c, 20, 2, 2, matype=1, sequential=True).upperband,
               lambda o, h, lo, cl, v: talib.BBANDS(cl, 20, 2, 2, 1)[0]),
    "rsi": (lambda c: ta.rsi(c, 14, sequential=True), lambda o, h, lo, cl, v: talib.RSI(cl, 14)),
    "rsi_open": (lambda c: ta.rsi(c, 7, "open", sequential=True),
                 lambda o, h, lo, cl, v: talib.RSI(o, 7)),
    "macd": (lambda c: ta.macd(c, sequential=True).macd,
             lambda o, h, lo, cl, v: talib.MACD(cl, 12, 26, 9)[0], 300),
    "macd_signal": (lambda c: ta.macd(c, sequential=True).signal,
                    lambda o, h, lo, cl, v: talib.MACD(cl, 12, 26, 9)[1], 300),
    "macd_hist": (lambda c: ta.macd(c, sequential=True).hist,
                  lambda o, h, lo, cl, v: talib.MACD(cl, 12, 26, 9)[2], 300),
    "stoch_k": (lambda c: ta.stoch(c, sequential=True).k,
                lambda o, h, lo, cl, v: talib.STOCH(h, lo, cl, 14, 3, 0, 3, 0)[0]),
    "stoch_d": (lambda c: ta.stoch(c, sequential=True).d,
                lambda o, h, lo, cl, v: talib.STOCH(h, lo, cl, 14, 3, 0, 3, 0)[1]),
    "stoch_ema": (lambda c: ta.stoch(c, 5, 3, 1, 3, 1, sequential=True).d,
                  lambda o, h, lo, cl, v: talib.STOCH(h, lo, cl, 5, 3, 1, 3, 1)[1], 300),
    "cci": (lambda c: ta.cci(c, 14, sequential=True), lambda o, h, lo, cl, v: talib.CCI(h, lo, cl, 14)),
    "mfi": (lambda c: ta.mfi(c, 14, sequential=True),
            lambda o, h, lo, cl, v: talib.MFI(h, lo, cl, v, 14)),
    "roc": (lambda c: ta.roc(c, 10, sequential=True), lambda o, h, lo, cl, v: talib.ROC(cl, 10)),
    "mom": (lambda c: ta.mom(c, 10, sequential=True), lambda o, h, lo, cl, v: talib.MOM(cl, 10)),
    "willr": (lambda c: ta.willr(c, 14, sequential=True),
              lambda o, h, lo, cl, v: talib.WILLR(h, lo, cl, 14)),
    "cmo": (lambda c: ta.cmo(c, 14, sequential=True), lambda o, h, lo, cl, v: talib.CMO(cl, 14)),
    "trix": (lambda c: ta.trix(c, 18, sequential=True), lambda o, h, lo, cl, v: talib.TRIX(cl, 18)),
    "ultosc": (lambda c: ta.ultosc(c, sequential=True),
               lambda o, h, lo, cl, v: talib.ULTOSC(h, lo, cl, 7, 14, 28)),
    "ppo": (lambda c: ta.ppo(c, sequential=True), lambda o, h, lo, cl, v: talib.PPO(cl, 12, 26, 0)),
    "ppo_ema": (lambda c: ta.ppo(c, matype=1, sequential=True),
                lambda o, h, lo, cl, v: talib.PPO(cl, 12, 26, 1)),
    "adx": (lambda c: ta.adx(c, 14, sequential=True), lambda o, h, lo, cl, v: talib.ADX(h, lo, cl, 14)),
    "plus_di": (lambda c: ta.di(c, 14, sequential=True).plus,
                lambda o, h, lo, cl, v: talib.PLUS_DI(h, lo, cl, 14)),
    "minus_di": (lambda c: ta.di(c, 14, sequential=True).minus,
                 lambda o, h, lo, cl, v: talib.MINUS_DI(h, lo, cl, 14)),
    "aroon_down": (lambda c: ta.aroon(c, 14, sequential=True).down,
                   lambda o, h, lo, cl, v: talib.AROON(h, lo, 14)[0]),
    "aroon_up": (lambda c: ta.aroon(c, 14, sequential=True).up,
                 lambda o, h, lo, cl, v: talib.AROON(h, lo, 14)[1]),
    "psar": (lambda c: ta.psar(c, sequential=True), lambda o, h, lo, cl, v: talib.SAR(h, lo, 0.02, 0.2)),
    "sar": (lambda c: ta.sar(c, 0.01, 0.1, sequential=True),
            lambda o, h, lo, cl, v: talib.SAR(h, lo, 0.01, 0.1)),
    "linearreg": (lambda c: ta.linearreg(c, 14, sequential=True),
                  lambda o, h, lo, cl, v: talib.LINEARREG(cl, 14)),
    "linearreg_slope": (lambda c: ta.linearreg_slope(c, 14, sequential=True),
                        lambda o, h, lo, cl, v: talib.LINEARREG_SLOPE(cl, 14)),
    "atr": (lambda c: ta.atr(c, 14, sequential=True), lambda o, h, lo, cl, v: talib.ATR(h, lo, cl, 14)),
    "natr": (lambda c: ta.natr(c, 14, sequential=True),
             lambda o, h, lo, cl, v: talib.NATR(h, lo, cl, 14)),
    "trange": (lambda c: ta.trange(c, sequential=True), lambda o, h, lo, cl, v: talib.TRANGE(h, lo, cl)),
    "bb_upper": (lambda c: ta.bollinger_bands(c, sequential=True).upperband,
                 lambda o, h, lo, cl, v: talib.BBANDS(cl, 20, 2, 2, 0)[0]),
    "bb_middle": (lambda c: ta.bollinger_bands(c, sequential=True).middleband,
                  lambda o, h, lo, cl, v: talib.BBANDS(cl, 20, 2, 2, 0)[1]),
    "bb_lower": (lambda c: ta.bollinger_bands(c, 20, 2, 1.5, sequential=True).lowerband,
                 lambda o, h, lo, cl, v: talib.BBANDS(cl, 20, 2, 1.5, 0)[2]),
    "stddev": (lambda c: ta.stddev(c, 5, sequential=True), lambda o, h, lo, cl, v: talib.STDDEV(cl, 5)),
    "stddev_nbdev": (lambda c: ta.stddev(c, 20, 2, sequential=True),
                     lambda o, h, lo, cl, v: talib.STDDEV(cl, 20, 2)),
    "obv": (lambda c: ta.obv(c, sequential=True), lambda o, h, lo, cl, v: talib.OBV(cl, v)),
    "ad": (lambda c: ta.ad(c, sequential=True), lambda o, h, lo, cl, v: talib.AD(h, lo, cl, v)),
    "adosc": (lambda c: ta.adosc(c, sequential=True),
              lambda o, h, lo, cl, v: talib.ADOSC(h, lo, cl, v, 3, 10)),
    "highest": (lambda c: ta.highest(c, 20, sequential=True), lambda o, h, lo, cl, v: talib.MAX(h, 20)),
    "lowest": (lambda c: ta.lowest(c, 20, sequential=True), lambda o, h, lo, cl, v: talib.MIN(lo, 20)),
    "highest_close": (lambda c: ta.highest(c, 50, "close", sequential=True),
                      lambda o, h, lo, cl, v: talib.MAX(cl, 50)),
    "ao": (lambda c: ta.ao(c, sequential=True).osc,
           lambda o, h, lo, cl, v: talib.SMA((h + lo) / 2, 5) - talib.SMA((h + lo) / 2, 34)),
    "keltner_upper": (lambda c: ta.keltner(c, 20, 2, sequential=True).upperband,
                      lambda o, h, lo, cl, v: talib.EMA(cl, 20) + 2 * talib.ATR(h, lo, cl, 20)),
    "keltner_lower": (lambda c: ta.keltner(c, 20, 1.5, 0, sequential=True).lowerband,
                      lambda o, h, lo, cl, v: talib.SMA(cl, 20) - 1.5 * talib.ATR(h, lo, cl, 20)),
    "donchian_upper": (lambda c: ta.donchian(c, 20, sequential=True).upperband,
                       lambda o, h, lo, cl, v: talib.MAX(h, 20)),
    "donchian_middle": (lambda c: ta.donchian(c, 20, sequential=True).middleband,
                        lambda o, h, lo, cl, v: (talib.MAX(h, 20) + talib.MIN(lo, 20)) / 2),
}


@pytest.mark.parametrize("case", sorted(TALIB_CASES))
def test_matches_talib(btc, case):
    ours, theirs, *burn = TALIB_CASES[case]
    assert_matches(ours(btc), theirs(*cols(btc)), *burn)


def test_stochrsi(btc):
    """Where RSI was flat over the stochastic window its range is rounding noise and TA-Lib
    returns noise in 0..100; those bars are checked separately."""
    close = btc[:, 2]
    rsi = talib.RSI(close, 14)
    flat = (talib.MAX(rsi, 14) - talib.MIN(rsi, 14)) < 1e-9
    flat_k = talib.MAX(flat.astype(float), 3) > 0
    flat_d = talib.MAX(flat.astype(float), 5) > 0
    assert 0 < flat.sum() < 100
    _, fastd = talib.STOCHRSI(close, 14, 14, 3, 0)
    ours = ta.stochrsi(btc, sequential=True)
    assert_matches(ours.k, fastd, skip=flat_k)
    assert_matches(ours.d, talib.SMA(fastd, 3), skip=flat_d)
    # Three flat bars in a row: every raw value in the k window is 0.
    flat3 = talib.MIN(flat.astype(float), 3) > 0
    assert flat3.sum() > 0
    np.testing.assert_array_equal(ours.k[flat3], 0.0)


def test_non_sequential_is_the_last_value(btc):
    c = btc[:500]
    assert ta.rsi(c) == pytest.approx(talib.RSI(c[:, 2], 14)[-1], rel=1e-12)
    bands = ta.bollinger_bands(c)
    assert isinstance(bands, ta.BollingerBands)
    assert bands.upperband == pytest.approx(talib.BBANDS(c[:, 2], 20, 2, 2)[0][-1], rel=1e-12)
    assert isinstance(ta.ema(c), float)


# --- indicators TA-Lib does not have: independent formulas ----------------------------------

def frame(c) -> pd.DataFrame:
    return pd.DataFrame(c, columns=["ts", "open", "close", "high", "low", "volume"])


def test_vwma(btc):
    df = frame(btc)
    expected = ((df.close * df.volume).rolling(20).sum() / df.volume.rolling(20).sum()).to_numpy()
    assert_matches(ta.vwma(btc, 20, sequential=True), expected)


def test_smma_is_wilders_average(btc):
    close = btc[:, 2].tolist()
    p = 7
    expected = [np.nan] * (p - 1) + [sum(close[:p]) / p]
    for x in close[p:]:
        expected.append((expected[-1] * (p - 1) + x) / p)
    assert_matches(ta.smma(btc, p, sequential=True), np.array(expected))
    assert_matches(ta.ma(btc, p, matype=12, sequential=True), np.array(expected))


def test_cmf(btc):
    df = frame(btc)
    mfv = ((df.close - df.low) - (df.high - df.close)) / (df.high - df.low) * df.volume
    expected = (mfv.fillna(0).rolling(20).sum() / df.volume.rolling(20).sum()).to_numpy()
    assert_matches(ta.cmf(btc, 20, sequential=True), expected)


def test_zscore(btc):
    # Per-window mean and std (pandas' rolling std carries running-sum rounding of ~1e-9).
    close = btc[:, 2]
    windows = np.lib.stride_tricks.sliding_window_view(close, 14)
    expected = np.full(len(close), np.nan)
    std = windows.std(axis=1)
    assert (std == 0).any()  # flat stretches: the documented value there is 0
    with np.errstate(invalid="ignore"):
        expected[13:] = np.where(std == 0, 0.0, (close[13:] - windows.mean(axis=1)) / std)
    assert_matches(ta.zscore(btc, 14, sequential=True), expected)


def test_vwap_resets_each_utc_day(btc):
    df = frame(btc)
    day = pd.to_datetime(df.ts, unit="ms").dt.floor("D")
    tp = (df.high + df.low + df.close) / 3
    expected = ((tp * df.volume).groupby(day).cumsum() / df.volume.groupby(day).cumsum()).to_numpy()
    assert_matches(ta.vwap(btc, sequential=True), expected)
    week = pd.to_datetime(df.ts, unit="ms").dt.to_period("W-SUN").dt.start_time
    expected_w = ((df.close * df.volume).groupby(week).cumsum()
                  / df.volume.groupby(week).cumsum()).to_numpy()
    assert_matches(ta.vwap(btc, "close", "W", sequential=True), expected_w)


def test_ichimoku_is_causal_cloud(btc):
    df = frame(btc)

    def mid(p):
        return (df.high.rolling(p).max() + df.low.rolling(p).min()) / 2

    cloud = ta.ichimoku(btc, sequential=True)
    assert_matches(cloud.conversion_line, mid(9).to_numpy())
    assert_matches(cloud.base_line, mid(26).to_numpy())
    # computed displacement - 1 = 25 bars before (TradingView's and Jesse's offset)
    assert_matches(cloud.span_a, ((mid(9) + mid(26)) / 2).shift(25).to_numpy())
    assert_matches(cloud.span_b, mid(52).shift(25).to_numpy())
    assert ta.ichimoku_cloud(btc) == ta.ichimoku(btc)


def test_heikin_ashi(btc):
    o, h, lo, cl = btc[:, 1], btc[:, 3], btc[:, 4], btc[:, 2]
    ha_close = (o + h + lo + cl) / 4
    ha_open = np.empty_like(ha_close)
    ha_open[0] = (o[0] + cl[0]) / 2
    for i in range(1, len(o)):
        ha_open[i] = (ha_open[i - 1] + ha_close[i - 1]) / 2
    ha = ta.heikin_ashi(btc, sequential=True)
    assert_matches(ha.open, ha_open)
    assert_matches(ha.close, ha_close)
    assert_matches(ha.high, np.max([h, ha_open, ha_close], axis=0))
    assert_matches(ha.low, np.min([lo, ha_open, ha_close], axis=0))


def test_supertrend(btc):
    period, factor = 10, 3.0
    h, lo, cl = btc[:, 3], btc[:, 4], btc[:, 2]
    atr = talib.ATR(h, lo, cl, period)
    hl2 = (h + lo) / 2
    up_basic, lo_basic = hl2 + factor * atr, hl2 - factor * atr
    s = period  # first bar with an ATR
    final_up, final_lo = up_basic.copy(), lo_basic.copy()
    direction = np.zeros(len(cl))
    direction[s] = 1 if cl[s] > up_basic[s] else -1
    for i in range(s + 1, len(cl)):
        if not (up_basic[i] < final_up[i - 1] or cl[i - 1] > final_up[i - 1]):
            final_up[i] = final_up[i - 1]
        if not (lo_basic[i] > final_lo[i - 1] or cl[i - 1] < final_lo[i - 1]):
            final_lo[i] = final_lo[i - 1]
        if direction[i - 1] == 1:
            direction[i] = -1 if cl[i] < final_lo[i] else 1
        else:
            direction[i] = 1 if cl[i] > final_up[i] else -1
    expected = np.where(direction == 1, final_lo, final_up)
    expected[:s] = np.nan
    changed = np.r_[0.0, (direction[1:] != direction[:-1]).astype(float)]
    changed[: s + 1] = np.where(np.arange(s + 1) < s, np.nan, 0.0)
    st = ta.supertrend(btc, period, factor, sequential=True)
    assert_matches(st.trend, expected)
    np.testing.assert_array_equal(st.changed, changed)
    assert 20 < np.nansum(st.changed) < len(cl) / 5


def test_ao_change(btc):
    ao = ta.ao(btc, sequential=True)
    np.testing.assert_array_equal(ao.change[1:], ao.osc[1:] - ao.osc[:-1])


def test_mean_and_median_abs_deviation_bands(btc):
    close = frame(btc).close
    roll = close.rolling(20)
    mad = roll.apply(lambda w: np.mean(np.abs(w - w.mean())), raw=True)
    bands = ta.bollinger_bands(btc, 20, 2, 2, devtype=1, sequential=True)
    assert_matches(bands.upperband, (roll.mean() + 2 * mad).to_numpy())
    medad = roll.apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True)
    bands = ta.bollinger_bands(btc, 20, 1, 1, devtype=2, sequential=True)
    assert_matches(bands.lowerband, (roll.mean() - medad).to_numpy())
