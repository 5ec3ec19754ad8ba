"""Every indicator of Jesse 3.x exists under ``jbt.indicators`` with Jesse's arguments, in
its own importable module, and each is checked against TA-Lib or an independent formula.

The table of names, arguments (in order, with defaults) and result fields is written from
Jesse 3.5's ``jesse.indicators`` (``dx`` and ``sequential``-less ones as Jesse has them); jbt
may add arguments only after Jesse's. The formulas in this file are written out bar by bar,
independently of jbt's vectorised kernels. ``bench/jesse_indicators.py`` compares the values with
Jesse's own, where Jesse is installed.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import math

import numpy as np
import pytest
from indicator_data import load_btc, random_walk_candles, values

import jbt.indicators as ta

talib = pytest.importorskip("talib")

JESSE_API = """
acosc | sequential=False | osc change
ad | sequential=False | -
adosc | fast_period=3, slow_period=10, sequential=False | -
adx | period=14, sequential=False | -
adxr | period=14, sequential=False | -
alligator | source_type='hl2', sequential=False | jaw teeth lips
alma | period=9, sigma=6.0, distribution_offset=0.85, source_type='close', sequential=False | -
ao | sequential=False | osc change
apo | fast_period=12, slow_period=26, matype=0, source_type='close', sequential=False | -
aroon | period=14, sequential=False | down up
aroonosc | period=14, sequential=False | -
atr | period=14, sequential=False | -
avgprice | sequential=False | -
bandpass | period=20, bandwidth=0.3, source_type='close', sequential=False | bp bp_normalized signal trigger
beta | benchmark_candles, period=5, sequential=False | -
bollinger_bands | period=20, devup=2, devdn=2, matype=0, devtype=0, source_type='close', sequential=False | upperband middleband lowerband
bollinger_bands_width | period=20, mult=2.0, source_type='close', sequential=False | -
bop | sequential=False | -
cc | wma_period=10, roc_short_period=11, roc_long_period=14, source_type='close', sequential=False | -
cci | period=14, sequential=False | -
cfo | period=14, scalar=100, source_type='close', sequential=False | -
cg | period=10, source_type='close', sequential=False | -
chande | period=22, mult=3.0, direction='long', sequential=False | -
chop | period=14, scalar=100, drift=1, sequential=False | -
cksp | p=10, x=1.0, q=9, sequential=False | long short
cmo | period=14, source_type='close', sequential=False | -
correl | period=5, sequential=False | -
correlation_cycle | period=20, threshold=9, source_type='close', sequential=False | real imag angle state
cvi | period=5, sequential=False | -
cwma | period=14, source_type='close', sequential=False | -
damiani_volatmeter | vis_atr=13, vis_std=20, sed_atr=40, sed_std=100, threshold=1.4, source_type='close', sequential=False | vol anti
dec_osc | hp_period=125, k=1, source_type='close', sequential=False | -
decycler | hp_period=125, source_type='close', sequential=False | -
dema | period=30, source_type='close', sequential=False | -
devstop | period=20, mult=0, devtype=0, direction='long', sequential=False | -
di | period=14, sequential=False | plus minus
dm | period=14, sequential=False | plus minus
donchian | period=20, sequential=False | upperband middleband lowerband
dpo | period=5, source_type='close', sequential=False | -
dti | r=14, s=10, u=5, sequential=False | -
dx | di_length=14, adx_smoothing=14, sequential=False | adx plusDI minusDI
edcf | period=15, source_type='hl2', sequential=False | -
efi | period=13, source_type='close', sequential=False | -
ema | period=5, source_type='close', sequential=False | -
emd | period=20, delta=0.5, fraction=0.1, sequential=False | upperband middleband lowerband
emv | length=14, div=10000, sequential=False | -
epma | period=11, offset=4, source_type='close', sequential=False | -
er | period=5, source_type='close', sequential=False | -
eri | period=13, matype=1, source_type='close', sequential=False | bull bear
fisher | period=9, sequential=False | fisher signal
fosc | period=5, source_type='close', sequential=False | -
frama | window=10, FC=1, SC=300, sequential=False | -
fwma | period=5, source_type='close', sequential=False | -
gatorosc | source_type='close', sequential=False | upper lower upper_change lower_change
gauss | period=14, poles=4, source_type='close', sequential=False | -
heikin_ashi_candles | sequential=False | open close high low
high_pass | period=48, source_type='close', sequential=False | -
high_pass_2_pole | period=48, source_type='close', sequential=False | -
hma | period=5, source_type='close', sequential=False | -
hull_suit | mode_switch='Hma', length=55, length_mult=1.0, source_type='close', sequential=False | s_hull m_hull signal
hurst_exponent | min_chunksize=8, max_chunksize=200, num_chunksize=5, method=1, source_type='close' | -
hwma | na=0.2, nb=0.1, nc=0.1, source_type='close', sequential=False | -
ichimoku_cloud | conversion_line_period=9, base_line_period=26, lagging_line_period=52, displacement=26 | conversion_line base_line span_a span_b
ichimoku_cloud_seq | conversion_line_period=9, base_line_period=26, lagging_line_period=52, displacement=26, sequential=False | conversion_line base_line span_a span_b lagging_line future_span_a future_span_b
ift_rsi | rsi_period=5, wma_period=9, source_type='close', sequential=False | -
itrend | alpha=0.07, source_type='hl2', sequential=False | signal it trigger
jma | period=7, phase=50, power=2, source_type='close', sequential=False | -
jsa | period=30, source_type='close', sequential=False | -
kama | period=14, fast_length=2, slow_length=30, source_type='close', sequential=False | -
kaufmanstop | period=22, mult=2, direction='long', matype=0, sequential=False | -
kdj | fastk_period=9, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0, sequential=False | k d j
keltner | period=20, multiplier=2, matype=1, source_type='close', sequential=False | upperband middleband lowerband
kst | sma_period1=10, sma_period2=10, sma_period3=10, sma_period4=15, roc_period1=10, roc_period2=15, roc_period3=20, roc_period4=30, signal_period=9, source_type='close', sequential=False | line signal
kurtosis | period=5, source_type='hl2', sequential=False | -
kvo | short_period=34, long_period=55, sequential=False | -
linearreg | period=14, source_type='close', sequential=False | -
linearreg_angle | period=14, source_type='close', sequential=False | -
linearreg_intercept | period=14, source_type='close', sequential=False | -
linearreg_slope | period=14, source_type='close', sequential=False | -
lrsi | alpha=0.2, sequential=False | -
ma | period=30, matype=0, source_type='close', sequential=False | -
maaq | period=11, fast_period=2, slow_period=30, source_type='close', sequential=False | -
mab | fast_period=10, slow_period=50, devup=1, devdn=1, fast_matype=0, slow_matype=0, source_type='close', sequential=False | upperband middleband lowerband
macd | fast_period=12, slow_period=26, signal_period=9, source_type='close', sequential=False | macd signal hist
mama | fastlimit=0.5, slowlimit=0.05, source_type='close', sequential=False | mama fama
marketfi | sequential=False | -
mass | period=5, sequential=False | -
mcginley_dynamic | period=10, k=0.6, source_type='close', sequential=False | -
mean_ad | period=5, source_type='hl2', sequential=False | -
median_ad | period=5, source_type='hl2', sequential=False | -
medprice | sequential=False | -
mfi | period=14, sequential=False | -
midpoint | period=14, source_type='close', sequential=False | -
midprice | period=14, sequential=False | -
minmax | order=3, sequential=False | is_min is_max last_min last_max
mom | period=10, source_type='close', sequential=False | -
mwdx | factor=0.2, source_type='close', sequential=False | -
natr | period=14, sequential=False | -
nma | period=40, source_type='close', sequential=False | -
nvi | source_type='close', sequential=False | -
obv | sequential=False | -
pfe | period=10, smoothing=5, source_type='close', sequential=False | -
pivot | mode=0, sequential=False | r4 r3 r2 r1 pp s1 s2 s3 s4
pma | source_type='hl2', sequential=False | predict trigger
ppo | fast_period=12, slow_period=26, matype=0, source_type='close', sequential=False | -
pvi | source_type='close', sequential=False | -
pwma | period=5, source_type='close', sequential=False | -
qstick | period=5, sequential=False | -
reflex | period=20, source_type='close', sequential=False | -
rma | length=14, source_type='close', sequential=False | -
roc | period=10, source_type='close', sequential=False | -
rocp | period=10, source_type='close', sequential=False | -
rocr | period=10, source_type='close', sequential=False | -
rocr100 | period=10, source_type='close', sequential=False | -
roofing | hp_period=48, lp_period=10, source_type='close', sequential=False | -
rsi | period=14, source_type='close', sequential=False | -
rsmk | candles_compare, lookback=90, period=3, signal_period=20, source_type='close', sequential=False | indicator signal
rsx | period=14, source_type='close', sequential=False | -
rvi | period=10, ma_len=14, matype=1, devtype=0, source_type='close', sequential=False | -
safezonestop | period=22, mult=2.5, max_lookback=3, direction='long', sequential=False | -
sar | acceleration=0.02, maximum=0.2, sequential=False | -
sinwma | period=14, source_type='close', sequential=False | -
skew | period=5, source_type='hl2', sequential=False | -
sma | period=5, source_type='close', sequential=False | -
smma | period=5, source_type='close', sequential=False | -
squeeze_momentum | length=20, mult=2.0, length_kc=20, mult_kc=1.5, sequential=True | squeeze momentum momentum_signal
sqwma | period=14, source_type='close', sequential=False | -
srsi | period=14, period_stoch=14, k=3, d=3, source_type='close', sequential=False | k d
srwma | period=14, source_type='close', sequential=False | -
stc | fast_period=23, slow_period=50, k_period=10, d1_period=3, d2_period=3, source_type='close', sequential=False | -
stddev | period=5, nbdev=1, source_type='close', sequential=False | -
stiffness | ma_length=100, stiff_length=60, stiff_smooth=3, source_type='close' | -
stoch | fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0, sequential=False | k d
stochf | fastk_period=5, fastd_period=3, fastd_matype=0, sequential=False | k d
supersmoother | period=14, source_type='close', sequential=False | -
supersmoother_3_pole | period=14, source_type='close', sequential=False | -
supertrend | period=10, factor=3, sequential=False | trend changed
support_resistance_with_breaks | left_bars=15, right_bars=15, vol_threshold=20 | support resistance red_break green_break bear_wick bull_wick
swma | period=5, source_type='close', sequential=False | -
t3 | period=5, vfactor=0, source_type='close', sequential=False | -
tema | period=9, source_type='close', sequential=False | -
trange | sequential=False | -
trendflex | period=20, source_type='close', sequential=False | -
trima | period=30, source_type='close', sequential=False | -
trix | period=18, source_type='close', sequential=False | -
tsf | period=14, source_type='close', sequential=False | -
tsi | long_period=25, short_period=13, source_type='close', sequential=False | -
ttm_squeeze | length_ttms=20, bb_mult_ttms=2.0, kc_mult_low_ttms=2.0 | -
ttm_trend | period=5, source_type='hl2', sequential=False | -
typprice | sequential=False | -
ui | period=14, scalar=100, source_type='close', sequential=False | -
ultosc | timeperiod1=7, timeperiod2=14, timeperiod3=28, sequential=False | -
var | period=14, nbdev=1, source_type='close', sequential=False | -
vi | period=14, sequential=False | plus minus
vidya | length=9, fix_cmo=True, select=True, source_type='close', sequential=False | -
vlma | min_period=5, max_period=50, matype=0, devtype=0, source_type='close', sequential=False | -
volume | period=20, sequential=False | volume ma
vosc | short_period=2, long_period=5, sequential=False | -
voss | period=20, predict=3, bandwith=0.25, source_type='close', sequential=False | voss filt
vpci | short_range=5, long_range=25, sequential=False | vpci vpcis
vpt | source_type='close', sequential=False | -
vpwma | period=14, power=0.382, source_type='close', sequential=False | -
vwap | source_type='hlc3', anchor='D', sequential=False | -
vwma | period=20, source_type='close', sequential=False | -
vwmacd | fast_period=12, slow_period=26, signal_period=9, sequential=False | macd signal hist
wad | sequential=False | -
waddah_attar_explosion | sensitivity=150, fast_length=20, slow_length=40, channel_length=20, mult=2.0, source_type='close' | explosion_line trend_power trend_direction
wclprice | sequential=False | -
wilders | period=5, source_type='close', sequential=False | -
willr | period=14, sequential=False | -
wma | period=30, source_type='close', sequential=False | -
wt | wtchannellen=9, wtaveragelen=12, wtmalen=3, oblevel=53, oslevel=-53, source_type='hlc3', sequential=False | wt1 wt2 wtCrossUp wtCrossDown wtOversold wtOverbought wtVwap
zlema | period=20, source_type='close', sequential=False | -
zscore | period=14, matype=0, nbdev=1, devtype=0, source_type='close', sequential=False | -
"""


def _api():
    out = {}
    for line in JESSE_API.strip().splitlines():
        name, args, fields = (part.strip() for part in line.split("|"))
        params = []
        for arg in args.split(", "):
            key, _, default = arg.partition("=")
            params.append((key, ast.literal_eval(default) if default else inspect.Parameter.empty))
        out[name] = (params, None if fields == "-" else tuple(fields.split()))
    return out


API = _api()
C = load_btc()[:3000]
OP, H, L, CL, V = C[:, 1], C[:, 3], C[:, 4], C[:, 2], C[:, 5]


def close(a, b, rtol=1e-9, start=None):
    """Equal where the reference has a value (from ``start``), to ``rtol`` of the value or of
    the series' median magnitude (oscillators cross 0)."""
    a, b = values(a), values(b)
    assert a.shape == b.shape
    idx = np.flatnonzero(~np.isnan(b))
    if start is not None:
        idx = idx[idx >= start]
    assert len(idx) > 10
    assert not np.isnan(a[idx]).any(), f"NaN where the reference has a value (at {idx[np.isnan(a[idx])][:3]})"
    scale = np.maximum(np.abs(b[idx]), np.median(np.abs(b[idx])) + 1e-12)
    err = np.abs(a[idx] - b[idx]) / scale
    worst = int(np.argmax(err))
    assert err[worst] <= rtol, f"index {idx[worst]}: {a[idx][worst]!r} != {b[idx][worst]!r}"


# ------------------------------------------------------------------------------ names


def test_every_jesse_indicator_exists_with_jesses_arguments():
    assert len(API) == 174
    for name, (params, _fields) in API.items():
        f = getattr(ta, name)
        got = [(p.name, p.default) for p in list(inspect.signature(f).parameters.values())[1:]]
        assert got[:len(params)] == params, name


@pytest.mark.parametrize("name", sorted(n for n, (_, f) in API.items() if f))
def test_result_fields_are_jesses(name):
    _params, fields = API[name]
    extra = (C[::-1].copy(),) if name in ("beta", "rsmk") else ()
    result = getattr(ta, name)(C, *extra)
    assert result._fields == fields


def test_one_module_per_indicator_as_jesse_lays_them_out():
    for name in [*API, "ht_trendmode", "ht_dcperiod", "macdext", "sarext"]:
        module = importlib.import_module(f"jbt.indicators.{name}")
        assert getattr(module, name) is getattr(ta, name)
        assert callable(getattr(ta, name))  # the package attribute is still the function
    from jbt.indicators.chande import chande
    from jbt.indicators.kdj import KDJ, kdj

    from jbt.indicators.volume import Volume, volume

    assert kdj(C)._fields == KDJ._fields and isinstance(kdj(C), KDJ)
    assert chande(C) == ta.chande(C)
    assert volume(C) == Volume(C[-1, 5], float(C[-20:, 5].mean())) or np.isclose(
        volume(C).ma, C[-20:, 5].mean(), rtol=1e-12)


def test_older_jesse_names_are_there_too():
    """Removed from Jesse with TA-Lib, still used by public strategies (IFR2: ta.ht_trendmode)."""
    for name in ("ht_dcperiod", "ht_dcphase", "ht_phasor", "ht_sine", "ht_trendline",
                 "ht_trendmode", "macdext", "sarext"):
        assert name in ta.INDICATORS


# ------------------------------------------------------------------------------ TA-Lib

TALIB = {
    "adxr": (lambda: ta.adxr(C, 14, sequential=True), lambda: talib.ADXR(H, L, CL, 14)),
    "apo": (lambda: ta.apo(C, sequential=True), lambda: talib.APO(CL, 12, 26, 0)),
    "apo_ema": (lambda: ta.apo(C, matype=1, sequential=True), lambda: talib.APO(CL, 12, 26, 1)),
    "aroonosc": (lambda: ta.aroonosc(C, sequential=True), lambda: talib.AROONOSC(H, L, 14)),
    "avgprice": (lambda: ta.avgprice(C, sequential=True), lambda: talib.AVGPRICE(OP, H, L, CL)),
    "bop": (lambda: ta.bop(C, sequential=True), lambda: talib.BOP(OP, H, L, CL)),
    "correl": (lambda: ta.correl(C, sequential=True), lambda: talib.CORREL(H, L, 5)),
    "dm_plus": (lambda: ta.dm(C, sequential=True).plus, lambda: talib.PLUS_DM(H, L, 14)),
    "dm_minus": (lambda: ta.dm(C, 9, sequential=True).minus, lambda: talib.MINUS_DM(H, L, 9)),
    "linearreg_angle": (lambda: ta.linearreg_angle(C, sequential=True),
                        lambda: talib.LINEARREG_ANGLE(CL, 14)),
    "linearreg_intercept": (lambda: ta.linearreg_intercept(C, sequential=True),
                            lambda: talib.LINEARREG_INTERCEPT(CL, 14)),
    "medprice": (lambda: ta.medprice(C, sequential=True), lambda: talib.MEDPRICE(H, L)),
    "midpoint": (lambda: ta.midpoint(C, sequential=True), lambda: talib.MIDPOINT(CL, 14)),
    "midprice": (lambda: ta.midprice(C, sequential=True), lambda: talib.MIDPRICE(H, L, 14)),
    "rocp": (lambda: ta.rocp(C, sequential=True), lambda: talib.ROCP(CL, 10)),
    "rocr": (lambda: ta.rocr(C, sequential=True), lambda: talib.ROCR(CL, 10)),
    "rocr100": (lambda: ta.rocr100(C, sequential=True), lambda: talib.ROCR100(CL, 10)),
    "stochf_k": (lambda: ta.stochf(C, sequential=True).k, lambda: talib.STOCHF(H, L, CL, 5, 3, 0)[0]),
    "stochf_d": (lambda: ta.stochf(C, sequential=True).d, lambda: talib.STOCHF(H, L, CL, 5, 3, 0)[1]),
    "t3": (lambda: ta.t3(C, 5, 0.7, sequential=True), lambda: talib.T3(CL, 5, 0.7)),
    "t3_v0": (lambda: ta.t3(C, sequential=True), lambda: talib.T3(CL, 5, 0)),
    "tsf": (lambda: ta.tsf(C, sequential=True), lambda: talib.TSF(CL, 14)),
    "typprice": (lambda: ta.typprice(C, sequential=True), lambda: talib.TYPPRICE(H, L, CL)),
    "var": (lambda: ta.var(C, sequential=True), lambda: talib.VAR(CL, 14)),
    "wclprice": (lambda: ta.wclprice(C, sequential=True), lambda: talib.WCLPRICE(H, L, CL)),
    "ht_dcperiod": (lambda: ta.ht_dcperiod(C, sequential=True), lambda: talib.HT_DCPERIOD(CL)),
    "ht_dcphase": (lambda: ta.ht_dcphase(C, sequential=True), lambda: talib.HT_DCPHASE(CL)),
    "ht_inphase": (lambda: ta.ht_phasor(C, sequential=True).inphase, lambda: talib.HT_PHASOR(CL)[0]),
    "ht_quadrature": (lambda: ta.ht_phasor(C, sequential=True).quadrature,
                      lambda: talib.HT_PHASOR(CL)[1]),
    "ht_sine": (lambda: ta.ht_sine(C, sequential=True).sine, lambda: talib.HT_SINE(CL)[0]),
    "ht_lead": (lambda: ta.ht_sine(C, sequential=True).lead, lambda: talib.HT_SINE(CL)[1]),
    "ht_trendline": (lambda: ta.ht_trendline(C, sequential=True), lambda: talib.HT_TRENDLINE(CL)),
    "mama": (lambda: ta.mama(C, sequential=True).mama, lambda: talib.MAMA(CL)[0]),
    "fama": (lambda: ta.mama(C, 0.4, 0.03, sequential=True).fama, lambda: talib.MAMA(CL, 0.4, 0.03)[1]),
    "ma_7": (lambda: ta.ma(C, 10, 7, sequential=True), lambda: talib.MA(CL, 10, 7)),
    "ma_8": (lambda: ta.ma(C, 10, 8, sequential=True), lambda: talib.MA(CL, 10, 8)),
    "macdext": (lambda: ta.macdext(C, 12, 0, 26, 0, 9, 0, sequential=True).macd,
                lambda: talib.MACDEXT(CL, 12, 0, 26, 0, 9, 0)[0]),
    "macdext_signal": (lambda: ta.macdext(C, 10, 2, 20, 2, 5, 2, sequential=True).signal,
                       lambda: talib.MACDEXT(CL, 10, 2, 20, 2, 5, 2)[1]),
    "sarext": (lambda: ta.sarext(C, 0, 0, 0.02, 0.02, 0.2, 0.02, 0.02, 0.2, sequential=True),
               lambda: talib.SAREXT(H, L, 0, 0, 0.02, 0.02, 0.2, 0.02, 0.02, 0.2)),
    "sarext_asym": (lambda: ta.sarext(C, 0, 0.01, 0.01, 0.03, 0.3, 0.02, 0.01, 0.1,
                                      sequential=True),
                    lambda: talib.SAREXT(H, L, 0, 0.01, 0.01, 0.03, 0.3, 0.02, 0.01, 0.1)),
}


@pytest.mark.parametrize("case", sorted(TALIB))
def test_matches_talib(case):
    ours, theirs = TALIB[case]
    close(ours(), theirs())


def test_ht_trendmode_matches_talib_and_the_burn_in_is_nan():
    ours = ta.ht_trendmode(C, sequential=True)
    theirs = talib.HT_TRENDMODE(CL).astype(float)
    assert np.isnan(ours[:63]).all()
    np.testing.assert_array_equal(ours[63:], theirs[63:])
    assert 0.2 < ours[63:].mean() < 0.9  # both modes occur on real data
    assert ta.ht_trendmode(C) in (0.0, 1.0) and (ta.ht_trendmode(C) == 1) == bool(theirs[-1])


def test_beta_matches_talib_on_returns():
    bench = random_walk_candles(len(C), seed=9)
    ours = ta.beta(C, bench, sequential=True)
    close(ours, talib.BETA(bench[:, 2], CL, 5))
    assert ta.beta(C, bench) == pytest.approx(ours[-1], rel=1e-12)


# ------------------------------------------------------------------------------ formulas


def ref_weighted(x, weights_newest_first, start):
    w = np.asarray(weights_newest_first, dtype=float)
    out = np.full(len(x), np.nan)
    for t in range(start, len(x)):
        out[t] = sum(w[i] * x[t - i] for i in range(len(w))) / w.sum()
    return out


def fib(n):
    a, b, out = 1, 1, []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


def ref_first_ema(x, alpha):
    out = [x[0]]
    for v in x[1:]:
        out.append(alpha * v + (1 - alpha) * out[-1])
    return np.array(out)


def ref_sma(x, p):
    out = np.full(len(x), np.nan)
    for t in range(p - 1, len(x)):
        out[t] = np.mean(x[t - p + 1:t + 1])
    return out


X = CL[:1500]
C15 = C[:1500]

WEIGHTED = {
    "cwma": (lambda: ta.cwma(C15, 14, sequential=True),
             lambda: ref_weighted(X, [(14 - i) ** 3 for i in range(13)], 15)),
    "sqwma": (lambda: ta.sqwma(C15, 14, sequential=True),
              lambda: ref_weighted(X, [(14 - i) ** 2 for i in range(13)], 15)),
    "srwma": (lambda: ta.srwma(C15, 14, sequential=True),
              lambda: ref_weighted(X, [(14 - i) ** 0.5 for i in range(13)], 15)),
    "vpwma": (lambda: ta.vpwma(C15, 14, 0.382, sequential=True),
              lambda: ref_weighted(X, [(14 - i) ** 0.382 for i in range(13)], 15)),
    "epma": (lambda: ta.epma(C15, 11, 4, sequential=True),
             lambda: ref_weighted(X, [11 - i - 4 for i in range(10)], 16)),
    "fwma": (lambda: ta.fwma(C15, 5, sequential=True),
             lambda: ref_weighted(X, fib(5)[::-1], 4)),
    "pwma": (lambda: ta.pwma(C15, 5, sequential=True),
             lambda: ref_weighted(X, [math.comb(4, i) for i in range(5)], 4)),
    "swma": (lambda: ta.swma(C15, 6, sequential=True),
             lambda: ref_weighted(X, [1, 2, 3, 3, 2, 1], 5)),
    "swma_odd": (lambda: ta.swma(C15, 5, sequential=True),
                 lambda: ref_weighted(X, [1, 2, 3, 2, 1], 4)),
    "sinwma": (lambda: ta.sinwma(C15, 14, sequential=True),
               lambda: ref_weighted(X, [math.sin((14 - i) * math.pi / 15) for i in range(14)], 13)),
    "alma": (lambda: ta.alma(C15, 9, 6.0, 0.85, sequential=True),
             lambda: ref_weighted(X, [math.exp(-((8 - i) - 0.85 * 8) ** 2 / (2 * 1.5 ** 2))
                                      for i in range(9)], 8)),
    "jsa": (lambda: ta.jsa(C15, 30, sequential=True),
            lambda: ref_weighted(X, [1] + [0] * 29 + [1], 30)),
}


@pytest.mark.parametrize("case", sorted(WEIGHTED))
def test_weighted_averages(case):
    ours, ref = WEIGHTED[case]
    close(ours(), ref(), rtol=1e-12)


def ref_recursive_averages():
    x = X
    out = {}
    out["wilders"] = ref_first_ema(x, 1 / 5)
    out["mwdx"] = ref_first_ema(x, 0.2)
    md = [x[0]]
    for v in x[1:]:
        md.append(md[-1] + (v - md[-1]) / max(0.6 * 10 * (v / md[-1]) ** 4, 1))
    out["mcginley_dynamic"] = np.array(md)
    f, vel, acc, hw = x[0], 0.0, 0.0, []
    for v in x:
        f2 = 0.8 * (f + vel + 0.5 * acc) + 0.2 * v
        v2 = 0.9 * (vel + acc) + 0.1 * (f2 - f)
        acc = 0.9 * acc + 0.1 * (v2 - vel)
        f, vel = f2, v2
        hw.append(f + vel + 0.5 * acc)
    out["hwma"] = np.array(hw)
    lag = 9
    z = np.full(len(x), np.nan)
    z[lag] = 2 * x[lag] - x[0]
    for t in range(lag + 1, len(x)):
        z[t] = (2 / 21) * (2 * x[t] - x[t - lag]) + (19 / 21) * z[t - 1]
    out["zlema"] = z
    return out


@pytest.mark.parametrize("name", ["wilders", "mwdx", "mcginley_dynamic", "hwma", "zlema"])
def test_recursive_averages(name):
    ours = getattr(ta, name)(C15, sequential=True)
    close(ours, ref_recursive_averages()[name], rtol=1e-10)


def test_jma_kama_like_adaptive_averages():
    x = X
    # jma: the public approximation, phase 50, power 2, period 7
    beta = 0.45 * 6 / (0.45 * 6 + 2)
    alpha = beta ** 2
    out, e0, e1, e2 = [x[0]], 0.0, 0.0, 0.0
    for v in x[1:]:
        e0 = (1 - alpha) * v + alpha * e0
        e1 = (v - e0) * (1 - beta) + beta * e1
        e2 = (e0 + 2.0 * e1 - out[-1]) * (1 - alpha) ** 2 + alpha ** 2 * e2
        out.append(e2 + out[-1])
    close(ta.jma(C15, sequential=True), np.array(out), rtol=1e-10)
    # maaq: noise over 11 changes, squared smoothing constant, from the price at index 10
    p = 11
    m = np.full(len(x), np.nan)
    m[p - 1] = x[p - 1]
    for t in range(p, len(x)):
        noise = sum(abs(x[k] - x[k - 1]) for k in range(t - p + 1, t + 1))
        ratio = abs(x[t] - x[t - p]) / noise if noise else 0.0
        sc = (ratio * 2 / 3 + 2 / 31) ** 2
        m[t] = m[t - 1] + sc * (x[t] - m[t - 1])
    m[p - 1] = np.nan
    close(ta.maaq(C15, sequential=True), m, rtol=1e-10)


def test_vidya_and_vlma_follow_their_rules():
    x = X
    mom = np.r_[0.0, np.diff(x)]
    vid = [x[0]]
    for t in range(1, len(x)):
        w = mom[max(0, t - 8):t + 1]
        up, dn = w[w >= 0].sum(), -w[w < 0].sum()
        k = abs(100 * (up - dn) / (up + dn)) / 100 if up + dn else 0.0
        vid.append(0.2 * k * x[t] + (1 - 0.2 * k) * vid[-1])
    close(ta.vidya(C15, sequential=True), np.array(vid), rtol=1e-9)
    vl = ta.vlma(C15, sequential=True)
    assert vl[0] == x[0] and np.isfinite(vl).all()
    # an EMA whose period stays between min_period and max_period: the step size is bounded
    steps = (vl[1:] - vl[:-1]) / (x[1:] - vl[:-1])
    steps = steps[np.isfinite(steps) & (np.abs(x[1:] - vl[:-1]) > 1e-6)]
    assert steps.min() >= 2 / 51 - 1e-9 and steps.max() <= 2 / 6 + 1e-9


def test_nma_edcf_and_cg():
    x = X
    p = 40
    ln = np.log(x) * 1000
    nm = np.full(len(x), np.nan)
    for j in range(p + 1, len(x)):
        o = [abs(ln[j - i] - ln[j - i - 1]) for i in range(p)]
        num = sum(o[i] * (math.sqrt(i + 1) - math.sqrt(i)) for i in range(p))
        r = num / sum(o) if sum(o) else 0.0
        nm[j] = x[j - p + 1] * r + x[j - p] * (1 - r)
    close(ta.nma(C15, sequential=True), nm, rtol=1e-10)
    hl2 = (H + L)[:1500] / 2
    p = 15
    ed = np.full(len(x), np.nan)
    for j in range(2 * p, len(x)):
        num = den = 0.0
        for i in range(p):
            dist = sum((hl2[j - i] - hl2[j - i - lb]) ** 2 for lb in range(1, p))
            num += dist * hl2[j - i]
            den += dist
        ed[j] = num / den if den else 0.0
    close(ta.edcf(C15, sequential=True), ed, rtol=1e-10)
    p = 10
    cg = np.full(len(x), np.nan)
    for i in range(p + 1, len(x)):
        num = sum((1 + k) * x[i - k] for k in range(p - 1))
        den = sum(x[i - k] for k in range(p - 1))
        cg[i] = -num / den
    close(ta.cg(C15, sequential=True), cg, rtol=1e-12)


def ref_filter(x, b, a):
    """y[t] = sum b[k] x[t-k] - sum a[k] y[t-k] (k >= 1 for a), zeros before the start."""
    y = []
    for t in range(len(x)):
        acc = sum(b[k] * x[t - k] for k in range(len(b)) if t - k >= 0)
        acc -= sum(a[k] * y[t - k] for k in range(1, len(a)) if t - k >= 0)
        y.append(acc)
    return np.array(y)


def test_ehlers_filters_follow_their_recurrences():
    x = X
    # super smoother (2 pole), first two values the price
    a = math.exp(-1.414 * math.pi / 14)
    b = 2 * a * math.cos(1.414 * math.pi / 14)
    ss = list(x[:2])
    for t in range(2, len(x)):
        ss.append((1 + a * a - b) / 2 * (x[t] + x[t - 1]) + b * ss[-1] - a * a * ss[-2])
    close(ta.supersmoother(C15, sequential=True), np.array(ss), rtol=1e-10)
    # 3 pole
    a = math.exp(-math.pi / 14)
    b = 2 * a * math.cos(1.738 * math.pi / 14)
    c = a * a
    s3 = list(x[:3])
    for t in range(3, len(x)):
        s3.append((1 - c * c - b + b * c) * x[t] + (b + c) * s3[-1] + (-c - b * c) * s3[-2]
                  + c * c * s3[-3])
    close(ta.supersmoother_3_pole(C15, sequential=True), np.array(s3), rtol=1e-10)
    # gauss, 4 poles: (1 - (1 - alpha) z^-1)^4 y = alpha^4 x
    beta = (1 - math.cos(2 * math.pi / 14)) / (2 ** (1 / 4) - 1)
    alpha = -beta + math.sqrt(beta * beta + 2 * beta)
    q = 1 - alpha
    g = ref_filter(x, [alpha ** 4], [1, -4 * q, 6 * q * q, -4 * q ** 3, q ** 4])
    close(ta.gauss(C15, sequential=True), g, rtol=1e-9)
    # high pass (1 pole), first value the price
    w = 2 * math.pi / 48
    al = 1 + (math.sin(w) - 1) / math.cos(w)
    hp = [x[0]]
    for t in range(1, len(x)):
        hp.append((1 - al / 2) * (x[t] - x[t - 1]) + (1 - al) * hp[-1])
    close(ta.high_pass(C15, sequential=True), np.array(hp), rtol=1e-9)
    # 2 pole
    w = 2 * math.pi * 0.707 / 48
    al = 1 + (math.sin(w) - 1) / math.cos(w)
    h2 = list(x[:2])
    for t in range(2, len(x)):
        h2.append((1 - al / 2) ** 2 * (x[t] - 2 * x[t - 1] + x[t - 2]) + 2 * (1 - al) * h2[-1]
                  - (1 - al) ** 2 * h2[-2])
    h2 = np.array(h2)
    close(ta.high_pass_2_pole(C15, sequential=True), h2, rtol=1e-9)
    close(ta.decycler(C15, 48, sequential=True), x - h2, rtol=1e-12)


def test_reflex_and_trendflex():
    x = X
    ss = ta.supersmoother(x, 10, sequential=True)
    for name, reflex in (("reflex", True), ("trendflex", False)):
        out, ms = np.zeros(len(x)), 0.0
        for i in range(20, len(x)):
            slope = (ss[i - 20] - ss[i]) / 20 if reflex else 0.0
            total = sum(ss[i] + (t * slope if reflex else 0) - ss[i - t] for t in range(1, 21)) / 20
            ms = 0.04 * total * total + 0.96 * ms
            out[i] = total / math.sqrt(ms) if ms > 0 else 0.0
        close(getattr(ta, name)(C15, sequential=True), out, rtol=1e-8)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the references divide by flat ranges
def test_oscillators_from_their_definitions():
    c, x = C15, X
    h, lo, o = H[:1500], L[:1500], OP[:1500]
    med = (h + lo) / 2
    ao = ref_sma(med, 5) - ref_sma(med, 34)
    ac = ao - np.r_[np.full(33, np.nan), ref_sma(ao[33:], 5)]
    close(ta.acosc(c, sequential=True).osc, ac, rtol=1e-9)
    close(ta.qstick(c, sequential=True), ref_sma(x - o, 5), rtol=1e-9)
    er = np.full(len(x), np.nan)
    for t in range(5, len(x)):
        vol = sum(abs(x[k] - x[k - 1]) for k in range(t - 4, t + 1))
        er[t] = abs(x[t] - x[t - 5]) / vol if vol else 0.0
    close(ta.er(c, sequential=True), er, rtol=1e-12)
    cfo = np.full(len(x), np.nan)
    for t in range(13, len(x)):
        slope, icept = np.polyfit(np.arange(14), x[t - 13:t + 1], 1)
        cfo[t] = 100 * (x[t] - (icept + 13 * slope)) / x[t]
    close(ta.cfo(c, sequential=True), cfo, rtol=1e-6)
    close(ta.fosc(c, 14, sequential=True)[13:], cfo[13:], rtol=1e-6)
    rng_hl = np.full(len(x), np.nan)
    tr = np.r_[h[0] - lo[0], np.maximum(h[1:], x[:-1]) - np.minimum(lo[1:], x[:-1])]
    for t in range(13, len(x)):
        span = h[t - 13:t + 1].max() - lo[t - 13:t + 1].min()
        rng_hl[t] = 100 * math.log10(tr[t - 13:t + 1].sum() / span) / math.log10(14)
    close(ta.chop(c, sequential=True), rng_hl, rtol=1e-10)
    kdj = ta.kdj(c, sequential=True)
    raw = np.array([100 * (x[t] - lo[max(0, t - 8):t + 1].min())
                    / (h[max(0, t - 8):t + 1].max() - lo[max(0, t - 8):t + 1].min())
                    for t in range(len(x))])
    k = ref_sma(raw, 3)
    d = np.r_[np.nan, np.nan, ref_sma(k[2:], 3)]
    close(kdj.k, k, rtol=1e-10)
    close(kdj.d, d, rtol=1e-10)
    close(kdj.j, 3 * k - 2 * d, rtol=1e-8)
    vi = ta.vi(c, sequential=True)
    vp = np.r_[0, np.abs(h[1:] - lo[:-1])]
    plus = np.array([np.nan] * 13 + [vp[t - 13:t + 1].sum() / tr[t - 13:t + 1].sum()
                                     if tr[t - 13:t + 1].sum() else 0.0
                                     for t in range(13, len(x))])
    close(vi.plus, plus, rtol=1e-12)
    top = np.array([np.nan] * 13 + [x[t - 13:t + 1].max() for t in range(13, len(x))])
    dd = 100 * (x - top) / top
    ui = np.array([np.nan] * 26 + [math.sqrt(np.mean(dd[t - 13:t + 1] ** 2))
                                   for t in range(26, len(x))])
    close(ta.ui(c, sequential=True)[26:], ui[26:], rtol=1e-10)
    mom = np.r_[0.0, np.diff(x)]
    num = ref_first_ema(ref_first_ema(mom, 2 / 26), 2 / 14)
    den = ref_first_ema(ref_first_ema(np.abs(mom), 2 / 26), 2 / 14)
    close(ta.tsi(c, sequential=True)[1:], (100 * num / den)[1:], rtol=1e-10)


def test_rate_of_change_family_and_bands():
    c, x = C15, X
    prev = np.r_[np.full(10, np.nan), x[:-10]]
    roc = 100 * (x - prev) / prev
    w = np.arange(1, 11)
    cc = np.full(len(x), np.nan)
    roc11 = 100 * (x - np.r_[np.full(11, np.nan), x[:-11]]) / np.r_[np.full(11, np.nan), x[:-11]]
    roc14 = 100 * (x - np.r_[np.full(14, np.nan), x[:-14]]) / np.r_[np.full(14, np.nan), x[:-14]]
    s = roc11 + roc14
    for t in range(23, len(x)):
        cc[t] = np.dot(s[t - 9:t + 1], w) / w.sum()
    close(ta.cc(c, sequential=True), cc, rtol=1e-10)
    line = sum(weight * ref_sma(100 * (x - np.r_[np.full(rp, np.nan), x[:-rp]])
                                / np.r_[np.full(rp, np.nan), x[:-rp]], sp)
               for weight, (sp, rp) in enumerate(((10, 10), (10, 15), (10, 20), (15, 30)), 1))
    close(ta.kst(c, sequential=True).line, line, rtol=1e-10)
    bb = ta.bollinger_bands(c, 20, 2, 2, sequential=True)
    close(ta.bollinger_bands_width(c, sequential=True),
          (bb.upperband - bb.lowerband) / bb.middleband, rtol=1e-10)
    fast, slow = ref_sma(x, 10), ref_sma(x, 50)
    dev = np.sqrt(np.r_[np.full(49, np.nan), [np.mean((fast - slow)[t - 9:t + 1] ** 2)
                                              for t in range(49, len(x))]])
    mab = ta.mab(c, sequential=True)
    close(mab.upperband, slow + dev, rtol=1e-10)
    close(mab.middleband, fast, rtol=1e-12)
    _ = roc


def test_stops_from_their_definitions():
    c = C15
    h, lo, x = H[:1500], L[:1500], X
    tr = np.r_[h[0] - lo[0], np.maximum(h[1:], x[:-1]) - np.minimum(lo[1:], x[:-1])]
    atr = np.full(len(x), np.nan)
    atr[21] = tr[:22].mean()
    for t in range(22, len(x)):
        atr[t] = (atr[t - 1] * 21 + tr[t]) / 22
    hh = np.array([np.nan] * 21 + [h[t - 21:t + 1].max() for t in range(21, len(x))])
    ll = np.array([np.nan] * 21 + [lo[t - 21:t + 1].min() for t in range(21, len(x))])
    close(ta.chande(c, sequential=True), hh - 3 * atr, rtol=1e-12)
    close(ta.chande(c, direction="short", sequential=True), ll + 3 * atr, rtol=1e-12)
    avg = ref_sma(h - lo, 22)
    close(ta.kaufmanstop(c, sequential=True), lo - 2 * avg, rtol=1e-12)
    close(ta.kaufmanstop(c, direction="short", sequential=True), h + 2 * avg, rtol=1e-12)
    with pytest.raises(ta.IndicatorError, match=r"^ta\.chande: unknown direction 'up'"):
        ta.chande(c, direction="up")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_volume_indicators_from_their_definitions():
    c = C15
    x, v, h, lo = X, V[:1500], H[:1500], L[:1500]
    nv, pv = [1000.0], [1000.0]
    for t in range(1, len(x)):
        r = 1 + (x[t] - x[t - 1]) / x[t - 1]
        nv.append(nv[-1] * r if v[t] < v[t - 1] else nv[-1])
        pv.append(pv[-1] * r if v[t] > v[t - 1] else pv[-1])
    close(ta.nvi(c, sequential=True), np.array(nv), rtol=1e-12)
    close(ta.pvi(c, sequential=True), np.array(pv), rtol=1e-12)
    vo = ta.volume(c, sequential=True)
    np.testing.assert_array_equal(vo.volume, v)
    close(vo.ma, ref_sma(v, 20), rtol=1e-12)
    close(ta.vosc(c, sequential=True), 100 * (ref_sma(v, 2) - ref_sma(v, 5)) / ref_sma(v, 5),
          rtol=1e-10)
    with np.errstate(divide="ignore", invalid="ignore"):
        mf = (h - lo) / v
    close(ta.marketfi(c, sequential=True), np.where(v == 0, np.nan, mf), rtol=1e-12)
    hl2 = (h + lo) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = 10000 * np.r_[0, np.diff(hl2)] * (h - lo) / v
    close(ta.emv(c, sequential=True)[np.isfinite(ref_sma(raw, 14))],
          ref_sma(raw, 14)[np.isfinite(ref_sma(raw, 14))], rtol=1e-9)


def test_statistics_from_their_definitions():
    c = C15
    hl2 = (H + L)[:1500] / 2
    k, s, m = [np.full(1500, np.nan) for _ in range(3)]
    for t in range(4, 1500):
        w = hl2[t - 4:t + 1]
        d = w - w.mean()
        m2 = np.mean(d ** 2)
        if m2 > 0:
            k[t] = np.mean(d ** 4) / m2 ** 2 - 3
            s[t] = np.mean(d ** 3) / m2 ** 1.5
        m[t] = np.median(np.abs(w - np.median(w)))
    close(ta.kurtosis(c, sequential=True), k, rtol=1e-8)
    close(ta.skew(c, sequential=True), s, rtol=1e-8)
    close(ta.median_ad(c, sequential=True), m, rtol=1e-12)
    dev = np.abs(hl2 - ref_sma(hl2, 5))
    close(ta.mean_ad(c, sequential=True), ref_sma(dev, 5), rtol=1e-10)


def test_ma_types_are_the_indicators_of_those_names():
    c = C15
    names = {9: "fwma", 13: "sinwma", 14: "supersmoother", 15: "supersmoother_3_pole",
             16: "gauss", 17: "high_pass", 18: "high_pass_2_pole", 19: "ht_trendline",
             20: "jma", 21: "reflex", 22: "trendflex", 24: "vwma", 25: "pwma", 26: "swma",
             27: "alma", 28: "hwma", 29: "vwap", 30: "nma", 31: "edcf", 32: "mwdx",
             33: "maaq", 34: "srwma", 35: "sqwma", 36: "vpwma", 37: "cwma", 38: "jsa",
             39: "epma", 11: "linearreg", 12: "smma", 23: "smma"}
    no_period = {19, 28, 29, 32}
    for matype, name in names.items():
        f = getattr(ta, name)
        expected = f(c, sequential=True) if matype in no_period else f(c, 14, sequential=True)
        if matype == 29:  # vwap of the close (ta.vwap defaults to hlc3)
            expected = f(c, "close", sequential=True)
        if matype == 31:  # edcf on the close (ta.edcf defaults to hl2)
            expected = f(c, 14, "close", sequential=True)
        got = ta.ma(c, 14, matype, sequential=True)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected), err_msg=name)
        ok = ~np.isnan(got)
        np.testing.assert_allclose(got[ok], expected[ok], rtol=1e-12, err_msg=name)
    with pytest.raises(ta.IndicatorError, match="matype 24 .* needs candles"):
        ta.ma(c[:, 2].copy(), 14, 24)
    with pytest.raises(ta.IndicatorError, match="unknown matype 40"):
        ta.ma(c, 14, 40)


def test_magen_style_calls_run():
    """MAGen's default (matype 11, linear regression) with every source type."""
    for src in ("close", "high", "low", "open", "hl2", "hlc3", "ohlc4"):
        series = ta.ma(C, matype=11, period=20, source_type=src, sequential=True)
        close(series, talib.LINEARREG(values(ta.ma(C, 1, 0, src, sequential=True)), 20))


# ------------------------------------------------------------------------------ special ones


def test_rsmk_is_the_smoothed_momentum_of_the_log_ratio():
    other = random_walk_candles(len(C15), seed=21)
    ratio = np.log(X / other[:, 2])
    mom = np.full(len(X), np.nan)
    mom[90:] = ratio[90:] - ratio[:-90]
    ind = np.full(len(X), np.nan)
    ind[90:] = ref_first_ema(mom[90:], 2 / 4) * 100
    sig = np.full(len(X), np.nan)
    sig[90:] = ref_first_ema(ind[90:], 2 / 21)
    got = ta.rsmk(C15, other, sequential=True)
    close(got.indicator, ind, rtol=1e-10)
    close(got.signal, sig, rtol=1e-10)
    last = ta.rsmk(C15, other)  # the last 240 candles only, as Jesse slices them
    tail = ta.rsmk(C15[-240:], other[-240:], sequential=True)
    assert last.indicator == pytest.approx(tail.indicator[-1], rel=1e-12)


def test_hurst_exponent_of_known_processes():
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.normal(0, 1, 240)) + 1000
    trend = np.cumsum(np.abs(rng.normal(0, 1, 240))) + 1000  # persistent
    for method in (0, 1, 2):
        h_walk = ta.hurst_exponent(walk, method=method)
        assert 0.2 < h_walk < 0.8, (method, h_walk)
    assert ta.hurst_exponent(trend, method=1) > ta.hurst_exponent(walk, method=1)
    with pytest.raises(ta.IndicatorError, match="unknown method 3"):
        ta.hurst_exponent(walk, method=3)


def test_stiffness_counts_closes_above_the_bound():
    x = X[-240:]
    bound = np.full(240, np.nan)
    for t in range(99, 240):
        w = x[t - 99:t + 1]
        bound[t] = w.mean() - 0.2 * w.std()
    counts = np.zeros(240)
    for t in range(60, 240):
        counts[t] = sum(1 for j in range(t - 59, t + 1) if x[j] > bound[j])
    pct = counts * 100 / 60
    expected = talib.EMA(pct, 3)[-1]
    assert ta.stiffness(C15) == pytest.approx(expected, rel=1e-12)


def test_ttm_squeeze_and_trend():
    c = C15
    x, h, lo = X, H[:1500], L[:1500]
    basis, dev = x[-20:].mean(), 2 * x[-20:].std()
    tr = np.maximum(h[-20:], x[-21:-1]) - np.minimum(lo[-20:], x[-21:-1])
    kc = tr.mean()
    no_squeeze = basis - dev < basis - 2 * kc or basis + dev > basis + 2 * kc
    assert ta.ttm_squeeze(c) is bool(no_squeeze)
    hl2 = (h + lo) / 2
    trend = ta.ttm_trend(c, sequential=True)
    assert trend.dtype == bool
    np.testing.assert_array_equal(trend[4:], x[4:] > ref_sma(hl2, 5)[4:])
    assert ta.ttm_trend(c) is bool(x[-1] > hl2[-5:].mean())


def test_waddah_attar_explosion():
    x = X[-240:]
    line_now = ta.macd(x, 20, 40).macd
    line_before = ta.macd(x[:-1], 20, 40).macd
    got = ta.waddah_attar_explosion(C15)
    assert got.trend_power == pytest.approx((line_now - line_before) * 150, rel=1e-12)
    assert got.explosion_line == pytest.approx(2 * 2.0 * x[-20:].std(), rel=1e-12)
    assert got.trend_direction == (1 if got.trend_power >= 0 else -1)


def test_support_resistance_with_breaks_on_a_drawn_chart():
    n = 40
    base = np.full(n, 100.0)
    base[10] = 110.0  # a pivot high confirmed 15 bars later... with 5 bars each side
    base[20] = 90.0   # a pivot low
    c = np.column_stack([np.arange(n) * 60_000.0, base, base, base + 0.1, base - 0.1,
                         np.ones(n)])
    c[10, 3] = 110.5
    c[20, 4] = 89.5
    got = ta.support_resistance_with_breaks(c, left_bars=5, right_bars=5)
    assert got.resistance == 110.5 and got.support == 89.5
    assert (got.red_break, got.green_break) == (False, False)  # candle 0 closes inside


def test_hull_suit_and_wavetrend():
    c = C15
    hull = ta.hma(c, 55, sequential=True)
    hs = ta.hull_suit(c, sequential=True)
    np.testing.assert_allclose(hs.m_hull[60:], hull[60:], rtol=1e-12)
    np.testing.assert_allclose(hs.s_hull[62:], hull[60:-2], rtol=1e-12)
    expected = np.where(hull[60:-2] < hull[62:], "buy", "sell")
    assert list(hs.signal[62:]) == list(expected)
    assert hs.signal[0] is None
    assert ta.hull_suit(c).signal == expected[-1]
    src = (H + L + CL)[:1500] / 3
    esa = ref_first_ema(src, 0.2)
    de = ref_first_ema(np.abs(src - esa), 0.2)
    de[de == 0] = 1e-10  # the first bar: no deviation yet (Jesse's guard)
    ci = (src - esa) / (0.015 * de)
    wt1 = ref_first_ema(ci, 2 / 13)
    w = ta.wt(c, sequential=True)
    close(w.wt1, wt1, rtol=1e-10)
    close(w.wt2[2:], ref_sma(wt1, 3)[2:], rtol=1e-10)
    np.testing.assert_array_equal(w.wtCrossUp, w.wt2 - w.wt1 <= 0)
    last = ta.wt(c)
    assert bool(last.wtOversold) == (w.wt2[-1] <= -53)


def test_pivot_levels_of_each_mode():
    c = C15
    h, lo, cl, op = H[1499], L[1499], CL[1499], OP[1499]
    p = (h + lo + cl) / 3
    std = ta.pivot(c)
    assert (std.pp, std.r1, std.s1, std.r2, std.s2) == pytest.approx(
        (p, 2 * p - lo, 2 * p - h, p + (h - lo), p - (h - lo)), rel=1e-12)
    assert math.isnan(std.r3) and math.isnan(std.s4)
    fib_ = ta.pivot(c, mode=1)
    assert fib_.r3 == pytest.approx(p + (h - lo), rel=1e-12)
    cam = ta.pivot(c, mode=3)
    assert cam.r4 == pytest.approx(cl + 0.55 * (h - lo), rel=1e-12)
    wood = ta.pivot(c, mode=4)
    assert wood.pp == pytest.approx((h + lo + 2 * op) / 4, rel=1e-12)
    series = ta.pivot(c, mode=2, sequential=True)
    assert series.pp[-1] == pytest.approx(ta.pivot(c, mode=2).pp, rel=1e-12)


def test_squeeze_momentum_flags_and_momentum():
    c = C15
    sq = ta.squeeze_momentum(c)  # Jesse's default: the whole series
    x, h, lo = X, H[:1500], L[:1500]
    t = 1400
    basis, dev = x[t - 19:t + 1].mean(), 1.5 * x[t - 19:t + 1].std()
    tr = np.maximum(h[t - 19:t + 1], x[t - 20:t]) - np.minimum(lo[t - 19:t + 1], x[t - 20:t])
    up_kc, lo_kc = basis + 1.5 * tr.mean(), basis - 1.5 * tr.mean()
    on = basis - dev > lo_kc and basis + dev < up_kc
    off = basis - dev < lo_kc and basis + dev > up_kc
    assert sq.squeeze[t] == (-1 if on else 1 if off else 0)
    base = np.array([x[k] - ((h[k - 19:k + 1].max() + lo[k - 19:k + 1].min()) / 2
                             + x[k - 19:k + 1].mean()) / 2 for k in range(t - 19, t + 1)])
    slope, icept = np.polyfit(np.arange(20), base, 1)
    assert sq.momentum[t] == pytest.approx(icept + 19 * slope, rel=1e-8)
    last = ta.squeeze_momentum(c, sequential=False)
    assert last.momentum == sq.momentum[-1]


def test_minmax_reports_an_extremum_once_it_is_confirmed():
    lows = np.array([5, 4, 3, 1, 3, 4, 5, 6, 2, 6, 7, 8], dtype=float)
    highs = lows + 1
    highs[6] = 9
    c = np.column_stack([np.arange(12) * 60_000.0, lows, lows, highs, lows, np.ones(12)])
    mm = ta.minmax(c, order=3, sequential=True)
    assert np.isnan(mm.is_min[:6]).all() and mm.is_min[6] == 1  # low at 3 known at 3 + 3
    assert mm.last_min[7] == 1
    assert mm.is_max[9] == 9 and mm.last_max[-1] == 9
    assert ta.minmax(c[:7], order=3).is_min == 1  # Jesse's last value reads 3 bars back
    assert math.isnan(ta.minmax(c[:8], order=3).is_min)
