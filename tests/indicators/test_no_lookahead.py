"""No look-ahead: inside a run, the value at bar k equals a fresh computation on the closed
candles up to k, future rows cannot change it, and history beyond the warm-up does not matter
(exactly for windowed indicators, below 1e-9 for recursive ones)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from indicator_data import (
    CALLS,
    SPECIAL,
    STANDARD,
    assert_same,
    random_walk_candles,
    scalar,
    values,
)

import jbt.indicators as ta
from jbt.indicators import run_cache

N = 1500


@pytest.fixture(scope="module")
def full() -> np.ndarray:
    candles = random_walk_candles(N, seed=7)
    candles.flags.writeable = False
    return candles


def ks(name: str) -> list[int]:
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # random, but the same every run
    return [0, 1, 2, 40, N - 1, *rng.integers(0, N, 6).tolist()]


@pytest.mark.parametrize("case", sorted(CALLS))
def test_cached_value_equals_fresh_computation_on_closed_candles(full, case):
    name, kwargs = CALLS[case]
    f = STANDARD[name]
    with run_cache(full):
        cached = [(k, scalar(f, full[:k + 1], **kwargs),
                   f(full[:k + 1], sequential=True, **kwargs)) for k in ks(case)]
    for k, value, series in cached:
        closed = full[:k + 1].copy()
        assert_same(value, scalar(f, closed, **kwargs))
        assert_same(series, f(closed, sequential=True, **kwargs))


@pytest.mark.parametrize("case", sorted(CALLS))
def test_rows_after_k_do_not_change_the_value_at_k(full, case):
    name, kwargs = CALLS[case]
    f = STANDARD[name]
    clean = f(full, sequential=True, **kwargs)
    rng = np.random.default_rng(1)
    for k in ks(case)[:-1]:
        garbage = full.copy()
        garbage[k + 1:] = rng.uniform(-1e6, 1e6, garbage[k + 1:].shape)
        garbage[k + 1:, 0] = full[k + 1:, 0]  # keep time moving forward
        dirty = f(garbage, sequential=True, **kwargs)
        if isinstance(clean, tuple):
            for c_series, d_series in zip(clean, dirty, strict=True):
                assert_same(c_series[:k + 1], d_series[:k + 1], rtol=0)
        else:
            assert_same(clean[:k + 1], dirty[:k + 1], rtol=0)


# Windowed (FIR) indicators: the value depends on its window only, whatever came before.
FIR = ["sma", "wma", "hma", "trima", "vwma", "cci", "mfi", "roc", "mom", "willr", "ultosc", "ao",
       "aroon", "linearreg", "linearreg_slope", "bollinger_bands", "donchian", "stddev",
       "highest", "lowest", "zscore", "cmf", "stoch", "ichimoku", "ppo", "trange", "ma"]


@pytest.mark.parametrize("name", FIR)
def test_windowed_indicators_ignore_history_beyond_their_window(btc, name):
    f = ta.INDICATORS[name]
    for end in (2000, 7000, len(btc)):
        expected = f(btc[:end])
        for history in (100, 333, 1500):
            assert_same(f(btc[end - history:end]), expected, rtol=1e-12)


# Jesse's indicators (and the older ones) that depend on their last candles only: to 1e-12 with
# 100 candles or more (several are recursive filters whose start has died out by then).
FIR_JESSE = """acosc alma apo aroonosc avgprice bollinger_bands_width bop cc cfo cg chop correl
correlation_cycle cvi cwma devstop dpo edcf emv epma er fisher fosc fwma gauss ht_trendmode
ichimoku_cloud_seq jma jsa kaufmanstop kdj kst kurtosis linearreg_angle linearreg_intercept mab
macdext marketfi mean_ad median_ad medprice midpoint midprice mwdx nma pfe pma pwma qstick rocp
rocr rocr100 sinwma skew sqwma srwma stochf supersmoother swma t3 tsf typprice ui var vi volume
vosc vpci vpt vpwma vwmacd wclprice wilders""".split()


@pytest.mark.parametrize("name", FIR_JESSE)
def test_jesse_windowed_indicators_ignore_history_beyond_100_candles(btc, name):
    test_windowed_indicators_ignore_history_beyond_their_window(btc, name)


# Jesse's recursive indicators: the candles of history after which the start of the data no
# longer matters to 1e-9 on the real hourly data.
IIR_JESSE = {
    "frama": 100, "mcginley_dynamic": 100, "supersmoother_3_pole": 100, "cksp": 200,
    "dti": 200, "efi": 200, "emd": 200, "eri": 200, "ht_trendline": 300, "ift_rsi": 200,
    "lrsi": 200, "maaq": 200, "mass": 200, "rsx": 200, "rvi": 200, "zlema": 200,
    "alligator": 300, "high_pass": 300, "mama": 300, "vidya": 300, "adxr": 500, "chande": 500,
    "dm": 500, "dx": 500, "gatorosc": 500, "high_pass_2_pole": 500, "ht_dcperiod": 500,
    "ht_dcphase": 500, "ht_phasor": 500, "ht_sine": 500, "itrend": 500, "roofing": 500,
    "safezonestop": 500, "tsi": 500, "decycler": 800, "hwma": 800, "kvo": 800, "reflex": 800,
    "stc": 800, "trendflex": 800, "voss": 800, "bandpass": 1200, "damiani_volatmeter": 1200,
    "dec_osc": 1200, "vlma": 1200,
}


@pytest.mark.parametrize("name", sorted(IIR_JESSE))
def test_jesse_recursive_indicators_forget_their_start(btc, name):
    f = ta.INDICATORS[name]
    history = IIR_JESSE[name]
    worst_short = worst_enough = 0.0
    for end in range(3000, len(btc), 1000):
        reference = values(f(btc[:end]))
        scale = np.where(reference == 0, 1.0, np.abs(reference))
        short = values(f(btc[end - history // 4:end]))
        enough = values(f(btc[end - history:end]))
        worst_short = max(worst_short, float(np.nanmax(np.abs(short - reference) / scale)))
        worst_enough = max(worst_enough, float(np.max(np.abs(enough - reference) / scale)))
    assert worst_enough < 1e-9
    assert worst_short > 1e-9 or np.isnan(worst_short)


# Running products from 1000: their ratios do not depend on the start.
RUNNING_PRODUCTS = ["nvi", "pvi"]


@pytest.mark.parametrize("name", RUNNING_PRODUCTS)
def test_running_products_change_by_the_same_ratios_whatever_the_history(btc, name):
    f = ta.INDICATORS[name]
    reference = f(btc, sequential=True)
    for start in (1, 500, 4321):
        got = f(btc[start - 1:], sequential=True)
        np.testing.assert_allclose(got[1:] / got[0], reference[start:] / reference[start - 1],
                                   rtol=1e-9)


# Path-dependent: the extended SAR with Jesse's defaults (no acceleration) keeps its start
# level until the price crosses it; tested against TA-Lib instead.
PATH_DEPENDENT = ["sarext"]


# Recursive (IIR) indicators and the history (in multiples of their period) after which the
# start of the data no longer matters to 1e-9 (see the jbt.indicators docstring).
IIR = {
    "ema": (5, 20), "dema": (30, 20), "tema": (9, 20), "macd": (26, 20), "trix": (18, 20),
    "smma": (5, 30), "rsi": (14, 30), "cmo": (14, 30), "atr": (14, 30), "natr": (14, 30),
    "adx": (14, 30), "di": (14, 30), "keltner": (20, 30), "supertrend": (10, 30),
    "stochrsi": (14, 30), "kama": (14, 30), "psar": (10, 30), "adosc": (10, 30),
    "heikin_ashi": (1, 40),
}


@pytest.mark.parametrize("name", sorted(IIR))
def test_recursive_indicators_forget_their_seed(btc, name):
    f = ta.INDICATORS[name]
    period, multiple = IIR[name]
    worst_short, worst_enough = 0.0, 0.0
    for end in range(3000, len(btc), 1000):
        reference = values(f(btc[:end]))
        scale = np.where(reference == 0, 1.0, np.abs(reference))
        short = values(f(btc[end - 5 * period:end]))
        enough = values(f(btc[end - multiple * period:end]))
        worst_short = max(worst_short, float(np.max(np.abs(short - reference) / scale)))
        worst_enough = max(worst_enough, float(np.max(np.abs(enough - reference) / scale)))
    assert worst_enough < 1e-9
    assert worst_short > 1e-9  # it is recursive: a short history does show


# Running totals: their level depends on where the data starts, their changes do not.
RUNNING_TOTALS = ["obv", "ad", "wad"]
# Anchored: the value depends only on the candles since the start of its anchor period.
ANCHORED = ["vwap"]
# Other names of the indicators above (Jesse's spelling), covered through them.
ALIASES = {"sar": "psar", "ichimoku_cloud": "ichimoku", "heikin_ashi_candles": "heikin_ashi",
           "srsi": "stochrsi", "rma": "smma"}


def test_every_indicator_has_a_history_test():
    covered = (set(FIR) | set(IIR) | set(RUNNING_TOTALS) | set(ANCHORED) | set(ALIASES)
               | set(FIR_JESSE) | set(IIR_JESSE) | set(RUNNING_PRODUCTS) | set(PATH_DEPENDENT)
               | SPECIAL)  # SPECIAL: tested in test_jesse_indicators.py
    assert covered == set(ta.INDICATORS)
    assert set(ALIASES.values()) <= covered


@pytest.mark.parametrize("name", RUNNING_TOTALS)
def test_running_totals_change_by_the_same_amounts_whatever_the_history(btc, name):
    f = ta.INDICATORS[name]
    reference = f(btc, sequential=True)
    tol = 1e-12 * float(np.max(np.abs(reference)))
    for start in (0, 500, 4321):
        for end in (start + 50, len(btc)):
            got = f(btc[start:end], sequential=True)
            np.testing.assert_allclose(got[1:] - got[0], reference[start + 1:end] - reference[start],
                                       rtol=0, atol=tol)
            assert got[0] != reference[start] or start == 0  # the level does depend on it


def test_vwap_depends_only_on_its_anchor_period(btc):
    day = btc[:, 0].astype(np.int64) // 86_400_000
    reference = ta.vwap(btc, sequential=True)
    for end in (1000, 5003, len(btc)):
        first = int(np.flatnonzero(day == day[end - 1])[0])  # first candle of that UTC day
        for history in (0, 1, 300):
            lo = max(first - history, 0)
            assert_same(ta.vwap(btc[lo:end]), reference[end - 1], rtol=1e-12)


def test_cache_hit_reuses_the_series_and_returns_a_read_only_view(full):
    with run_cache(full):
        a = ta.rsi(full[:100], sequential=True)
        b = ta.rsi(full[:900], sequential=True)
        assert np.shares_memory(a, b)
        assert not a.flags.writeable
        assert len(a) == 100 and len(b) == 900
        assert ta.rsi(full[:900]) == b[-1]
    fresh = ta.rsi(full[:100], sequential=True)
    assert fresh.flags.writeable and not np.shares_memory(fresh, a)


def test_unregistered_or_offset_slices_compute_normally(full):
    with run_cache(full):
        # A slice that does not start at row 0 is not a prefix: computed on its own rows.
        assert ta.sma(full[10:60], 50) == pytest.approx(full[10:60, 2].mean(), rel=1e-12)
        with pytest.raises(ta.IndicatorError, match="too few candles"):
            ta.sma(full[10:20], 50)
        # A column subset, a strided view and a copy are not prefixes either.
        assert ta.sma(full[:60:2], 30) == pytest.approx(full[:60:2, 2].mean(), rel=1e-12)
        assert ta.sma(full[:60].copy(), 60) == pytest.approx(full[:60, 2].mean(), rel=1e-12)


def test_registration_is_removed_on_exit_even_after_an_exception(full):
    with pytest.raises(RuntimeError), run_cache(full):
        ta.ema(full[:10])
        raise RuntimeError("strategy failed")
    from jbt.indicators._cache import _RUNS

    assert _RUNS.get() is None


def test_two_runs_in_two_threads_do_not_share_caches():
    import threading

    a = random_walk_candles(500, seed=1)
    b = random_walk_candles(500, seed=2)
    a.flags.writeable = False
    b.flags.writeable = False
    barrier = threading.Barrier(2)
    seen: dict[str, object] = {}

    def run(label, mine, other):
        with run_cache(mine):
            barrier.wait()
            from jbt.indicators._cache import _RUNS

            registry = _RUNS.get().entries
            seen[label] = (id(mine) in registry, id(other) in registry,
                           ta.ema(mine[:300], 20), ta.ema(other[:300], 20))
            barrier.wait()

    threads = [threading.Thread(target=run, args=("a", a, b)),
               threading.Thread(target=run, args=("b", b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for label, mine, other in (("a", a, b), ("b", b, a)):
        has_mine, has_other, ema_mine, ema_other = seen[label]
        assert has_mine and not has_other
        assert ema_mine == ta.ema(mine[:300].copy(), 20)
        assert ema_other == ta.ema(other[:300].copy(), 20)


def test_run_cache_rejects_arrays_it_cannot_key_safely(full):
    writeable = full.copy()
    with pytest.raises(ta.IndicatorError, match="writeable"), run_cache(writeable):
        pass
    with pytest.raises(ta.IndicatorError, match="two candle arrays that are views of one"), \
            run_cache(full[:100], full[200:300]):
        pass
    with pytest.raises(ta.IndicatorError, match=r"shape"), run_cache(np.zeros((3, 5))):
        pass


def test_a_view_of_a_larger_array_is_registered_by_its_rows(full):
    """A route in the stored timeframe trades the loaded candles themselves: its bars are rows
    ``lo:hi`` of them, registered without a copy. Only prefixes of those rows hit the cache;
    a slice of the larger array starting elsewhere, or running past ``hi``, computes on its
    own rows."""
    rows = full[100:1100]
    with run_cache(rows):
        first = ta.sma(rows[:300], 50, sequential=True)
        assert not first.flags.writeable  # from the cache
        assert np.shares_memory(first, ta.sma(rows[:900], 50, sequential=True))
        assert ta.sma(rows[:300], 50) == pytest.approx(rows[250:300, 2].mean(), rel=1e-12)
        # the larger array's own prefix starts 100 rows earlier: not these rows
        assert ta.sma(full[:300], 50) == pytest.approx(full[250:300, 2].mean(), rel=1e-12)
        assert ta.sma(full[:300], 50, sequential=True).flags.writeable
        # rows 100..1200 start where the registered rows start but run past them
        longer = full[100:1200]
        assert ta.sma(longer, 50) == pytest.approx(full[1150:1200, 2].mean(), rel=1e-12)
        assert ta.sma(full[101:400], 50, sequential=True).flags.writeable


def test_arrays_without_increasing_timestamps_use_the_data_pointer():
    candles = random_walk_candles(200, seed=3)
    candles[:, 0] = 0.0  # timestamps carry no order
    candles.flags.writeable = False
    with run_cache(candles):
        assert ta.sma(candles[:50], 10) == ta.sma(candles[:50].copy(), 10)
        assert ta.sma(candles[5:50], 10) == ta.sma(candles[5:50].copy(), 10)
        assert ta.sma(candles[:50], 10, sequential=True).flags.writeable is False
