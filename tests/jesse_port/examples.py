'''The 11 strategies of jesse-ai/example-strategies, re-implemented for the tests.

Each is our own rewrite of the published strategy: the same trading logic through the same
Jesse API calls (``@cached``, ``self.capital``, ``ta.ht_trendmode``, ``ta.kdj``, ``ta.ma`` with
matype 11, ``should_cancel``, ``on_stop_loss`` ...), with the imports written for jbt, as a user
would port them. Quirks of the originals are kept on purpose (DUAL_THRUST's ``down_max_high``
reads the lows, KDJstrategy compares J with ``(K and D)``), because porting means running the
same logic. ``SOURCES[name]`` is the text of ``strategies/<name>/__init__.py``;
``TIMEFRAMES[name]`` the timeframe the original was written for.
'''

from __future__ import annotations

SOURCES: dict[str, str] = {}

SOURCES["DUAL_THRUST"] = """
import numpy as np

import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy, cached


class DUAL_THRUST(Strategy):
    # Michael Chalek's Dual Thrust: break out of a range built from the last N bars, measured
    # from the open of the anchor timeframe's bar.

    def should_long(self) -> bool:
        return self.long_cond

    def should_short(self) -> bool:
        return self.short_cond

    def go_long(self):
        entry = self.price
        stop = entry - self.atr * self.hp['stop_loss_atr_rate']
        qty = utils.risk_to_qty(self.balance, 2, entry, stop)
        self.buy = qty, entry
        self.stop_loss = qty, stop

    def go_short(self):
        entry = self.price
        stop = entry + self.atr * self.hp['stop_loss_atr_rate']
        qty = utils.risk_to_qty(self.balance, 2, entry, stop)
        self.sell = qty, entry
        self.stop_loss = qty, stop

    def update_position(self):
        if (self.is_long and self.short_cond) or (self.is_short and self.long_cond):
            self.liquidate()

    def should_cancel_entry(self) -> bool:
        return True

    def _window(self, column, name):
        return self.candles[:, column][-self.hp[name]:]

    @property
    def up_min_low(self):
        return np.min(self._window(4, 'up_length'))

    @property
    def up_min_close(self):
        return np.min(self._window(2, 'up_length'))

    @property
    def up_max_close(self):
        return np.max(self._window(2, 'up_length'))

    @property
    def up_max_high(self):
        return np.max(self._window(3, 'up_length'))

    @property
    def down_min_low(self):
        return np.min(self._window(4, 'down_length'))

    @property
    def down_min_close(self):
        return np.min(self._window(2, 'down_length'))

    @property
    def down_max_close(self):
        return np.max(self._window(2, 'down_length'))

    @property
    def down_max_high(self):
        # as published: the lows' column (4), not the highs'
        return np.max(self._window(4, 'down_length'))

    @property
    def up_thurst(self):
        spread = max(self.up_max_close - self.up_min_low, self.up_max_high - self.up_min_close)
        return self.anchor_candles[:, 1][-1] + self.hp['up_coeff'] * spread

    @property
    def down_thrust(self):
        spread = max(self.down_max_close - self.down_min_low,
                     self.down_max_high - self.down_min_close)
        return self.anchor_candles[:, 1][-1] - self.hp['down_coeff'] * spread

    @property
    @cached
    def anchor_candles(self):
        return self.get_candles(self.exchange, self.symbol, utils.anchor_timeframe(self.timeframe))

    @property
    def short_cond(self):
        return self.price < self.down_thrust

    @property
    def long_cond(self):
        return self.price > self.up_thurst

    @property
    def atr(self):
        return ta.atr(self.candles)

    def hyperparameters(self):
        return [
            {'name': 'stop_loss_atr_rate', 'type': float, 'min': 0.1, 'max': 2.0, 'default': 2},
            {'name': 'down_length', 'type': int, 'min': 3, 'max': 30, 'default': 21},
            {'name': 'up_length', 'type': int, 'min': 3, 'max': 30, 'default': 21},
            {'name': 'down_coeff', 'type': float, 'min': 0.1, 'max': 3.0, 'default': 0.67},
            {'name': 'up_coeff', 'type': float, 'min': 0.1, 'max': 3.0, 'default': 0.71},
        ]
"""

SOURCES["Donchian"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class Donchian(Strategy):
    # Buy a close above the previous Donchian channel while above the 200 SMA; sell a close
    # below its lower band.

    @property
    def donchian(self):
        return ta.donchian(self.candles[:-1])

    @property
    def ma_trend(self):
        return ta.sma(self.candles, period=200)

    def filter_trend(self):
        return self.close > self.ma_trend

    def filters(self):
        return [self.filter_trend]

    def should_long(self) -> bool:
        return self.close > self.donchian.upperband

    def should_short(self) -> bool:
        return False

    def should_cancel_entry(self) -> bool:
        return True

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def go_short(self):
        pass

    def update_position(self):
        if self.close < self.donchian.lowerband:
            self.liquidate()
"""

SOURCES["IFR2"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class IFR2(Strategy):
    # RSI(2) dips bought only in an uptrend: above an Ichimoku cloud with crypto settings and
    # in the Hilbert transform's trend mode; out when the close beats the two previous highs.

    @property
    def rsi(self):
        return ta.rsi(self.candles, period=2)

    @property
    def trend_mode(self):
        return ta.ht_trendmode(self.candles)

    @property
    def ichimoku(self):
        return ta.ichimoku_cloud(self.candles, conversion_line_period=20, base_line_period=30,
                                 lagging_line_period=120, displacement=60)

    def filter_trend_ichimoku(self):
        return self.close > self.ichimoku.span_a and self.close > self.ichimoku.span_b

    def filter_trend_mode(self):
        return self.trend_mode == 1

    def filters(self):
        return [self.filter_trend_ichimoku, self.filter_trend_mode]

    def should_long(self) -> bool:
        return self.rsi < 10

    def should_short(self) -> bool:
        return False

    def should_cancel_entry(self) -> bool:
        return True

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def go_short(self):
        pass

    def update_position(self):
        if self.close > self.candles[-2:, 3][-2] and self.close > self.candles[-3:, 3][-3]:
            self.liquidate()
"""

SOURCES["KDJstrategy"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class KDJstrategy(Strategy):
    # Long when J is above (K and D); out on a falling J while in profit, or when J drops
    # below (K and D). Risks 5% of the capital with a 2 ATR stop.

    @property
    def KDJIndicator(self):
        return ta.kdj(self.candles)

    @property
    def LastKDJ(self):
        return ta.kdj(self.candles[:-1])

    @property
    def atr(self):
        return ta.atr(self.candles, period=14)

    def should_long(self) -> bool:
        return self.KDJIndicator[2] > (self.KDJIndicator[0] and self.KDJIndicator[1])

    def should_short(self) -> bool:
        return False

    def should_cancel(self) -> bool:
        return True

    def go_long(self):
        entry = self.price
        stop = entry - 2 * self.atr
        qty = utils.risk_to_qty(self.capital, 5, entry, stop)
        self.buy = qty, self.price
        self.stop_loss = qty, stop

    def go_short(self):
        return False

    def update_position(self):
        if self.is_long and self.position.pnl_percentage > 0 and self.LastKDJ[2] > self.KDJIndicator[2]:
            self.liquidate()
        elif self.is_long and self.KDJIndicator[2] < (self.KDJIndicator[0] and self.KDJIndicator[1]):
            self.liquidate()
"""

SOURCES["MACD_EMA"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy, cached


class MACD_EMA(Strategy):
    # Long while the MACD line is above its signal and the close above the 100 EMA; out when
    # both turn.

    @property
    def macd(self):
        return ta.macd(self.candles, self.hp['fastperiod'], self.hp['slowperiod'],
                       self.hp['signalperiod'])

    @property
    def ema(self):
        return ta.ema(self.candles, self.hp['ema'])

    def should_long(self):
        if self.close > self.ema and self.macd[0] > self.macd[1]:
            return True
        return False

    def should_short(self):
        return False

    def should_cancel_entry(self) -> bool:
        return True

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def go_short(self):
        pass

    def update_position(self):
        if self.macd[0] < self.macd[1] and self.close < self.ema:
            self.liquidate()

    def hyperparameters(self):
        return [
            {'name': 'ema', 'type': int, 'min': 50, 'max': 200, 'default': 100},
            {'name': 'fastperiod', 'type': int, 'min': 10, 'max': 18, 'default': 12},
            {'name': 'slowperiod', 'type': int, 'min': 19, 'max': 36, 'default': 26},
            {'name': 'signalperiod', 'type': int, 'min': 3, 'max': 9, 'default': 9},
        ]
"""

SOURCES["MAGen"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class MAGen(Strategy):
    # Trade the cross of two configurable moving averages (linear regression by default) when
    # ADX shows a trend, with ATR-based stop-loss and take-profit.

    def should_long(self) -> bool:
        return self.longEntry

    def should_short(self) -> bool:
        return self.shortEntry

    def go_long(self):
        entry = self.price
        stop = entry - self.atr * self.hp['stop_loss_atr_rate']
        qty = utils.risk_to_qty(self.balance, 3, entry, stop)
        take_profit = entry + self.atr * self.hp['take_profit_atr_rate']
        self.buy = qty, entry
        self.stop_loss = qty, stop
        self.take_profit = qty, take_profit

    def go_short(self):
        entry = self.price
        stop = entry + self.atr * self.hp['stop_loss_atr_rate']
        qty = utils.risk_to_qty(self.balance, 3, entry, stop)
        take_profit = entry - self.atr * self.hp['take_profit_atr_rate']
        self.sell = qty, entry
        self.stop_loss = qty, stop
        self.take_profit = qty, take_profit

    def should_cancel_entry(self) -> bool:
        return True

    def update_position(self):
        if (self.is_short and self.shortExit) or (self.is_long and self.longExit):
            self.liquidate()

    @property
    def longEntry(self):
        return self.trend_direction_change == 1 and self.adx > self.hp['adx_entry']

    @property
    def shortEntry(self):
        return self.trend_direction_change == -1 and self.adx > self.hp['adx_entry']

    @property
    def longExit(self):
        return self.ma_fast[-1] < self.ma_slow[-1] and self.adx < self.hp['adx_exit']

    @property
    def shortExit(self):
        return self.ma_fast[-1] > self.ma_slow[-1] and self.adx < self.hp['adx_exit']

    @property
    def adx(self):
        return ta.adx(self.candles, period=self.hp['adx_period'])

    @property
    def trend_direction_change(self):
        direction = 0
        if self.ma_fast[-1] < self.ma_slow[-1] and self.ma_fast[-2] >= self.ma_slow[-2]:
            direction = -1
        if self.ma_fast[-1] > self.ma_slow[-1] and self.ma_fast[-2] <= self.ma_slow[-2]:
            direction = 1
        return direction

    SOURCES = ('close', 'high', 'low', 'open', 'hl2', 'hlc3', 'ohlc4')

    @property
    def ma_slow(self):
        source = self.SOURCES[self.hp['ma_source_slow']]
        return ta.ma(self.candles, matype=self.hp['ma_type_slow'], period=self.hp['ma_period_slow'],
                     source_type=source, sequential=True)

    @property
    def ma_fast(self):
        source = self.SOURCES[self.hp['ma_source_fast']]
        return ta.ma(self.candles, matype=self.hp['ma_type_fast'], period=self.hp['ma_period_fast'],
                     source_type=source, sequential=True)

    @property
    def atr(self):
        return ta.atr(self.candles, period=self.hp['atr_period'])

    def hyperparameters(self):
        return [
            {'name': 'stop_loss_atr_rate', 'type': float, 'min': 1, 'max': 4, 'default': 2},
            {'name': 'take_profit_atr_rate', 'type': float, 'min': 3, 'max': 20, 'default': 5},
            {'name': 'atr_period', 'type': int, 'min': 5, 'max': 40, 'default': 32},
            {'name': 'ma_period_slow', 'type': int, 'min': 3, 'max': 200, 'default': 20},
            {'name': 'ma_source_slow', 'type': int, 'min': 0, 'max': 6, 'default': 0},
            {'name': 'ma_period_fast', 'type': int, 'min': 3, 'max': 100, 'default': 5},
            {'name': 'ma_source_fast', 'type': int, 'min': 0, 'max': 6, 'default': 0},
            {'name': 'ma_type_slow', 'type': int, 'min': 0, 'max': 39, 'default': 11},
            {'name': 'ma_type_fast', 'type': int, 'min': 0, 'max': 39, 'default': 11},
            {'name': 'adx_period', 'type': int, 'min': 3, 'max': 60, 'default': 8},
            {'name': 'adx_exit', 'type': int, 'min': 3, 'max': 40, 'default': 15},
            {'name': 'adx_entry', 'type': int, 'min': 3, 'max': 40, 'default': 13},
        ]
"""

SOURCES["RSI2"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class RSI2(Strategy):
    # Larry Connors' RSI(2) mean reversion, both ways, around the 200 SMA; out across the 5 SMA.

    def __init__(self):
        super().__init__()
        self.vars["fast_sma_period"] = 5
        self.vars["slow_sma_period"] = 200
        self.vars["rsi_period"] = 2
        self.vars["rsi_ob_threshold"] = 90
        self.vars["rsi_os_threshold"] = 10

    @property
    def fast_sma(self):
        return ta.sma(self.candles, self.vars["fast_sma_period"])

    @property
    def slow_sma(self):
        return ta.sma(self.candles, self.vars["slow_sma_period"])

    @property
    def rsi(self):
        return ta.rsi(self.candles, self.vars["rsi_period"])

    def should_long(self) -> bool:
        return self.price > self.slow_sma and self.rsi <= self.vars["rsi_os_threshold"]

    def should_short(self) -> bool:
        return self.price < self.slow_sma and self.rsi >= self.vars["rsi_ob_threshold"]

    def should_cancel_entry(self) -> bool:
        return False

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def go_short(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.sell = qty, self.price

    def update_position(self):
        if self.is_long and self.price > self.fast_sma:
            self.liquidate()
        if self.is_short and self.price < self.fast_sma:
            self.liquidate()
"""

SOURCES["SMACrossover"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class SMACrossover(Strategy):
    # The hello world of trading: long above a golden cross, short below a death cross.

    @property
    def slow_sma(self):
        return ta.sma(self.candles, 200)

    @property
    def fast_sma(self):
        return ta.sma(self.candles, 50)

    def should_long(self) -> bool:
        return self.fast_sma > self.slow_sma

    def should_short(self) -> bool:
        return self.fast_sma < self.slow_sma

    def should_cancel_entry(self) -> bool:
        return False

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def go_short(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.sell = qty, self.price

    def update_position(self):
        if self.is_long and self.fast_sma < self.slow_sma:
            self.liquidate()
        if self.is_short and self.fast_sma > self.slow_sma:
            self.liquidate()
"""

SOURCES["SimpleBollinger"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class SimpleBollinger(Strategy):
    # A close above the upper band (hl2 bands) above the Ichimoku cloud goes long; a close
    # below the middle band exits.

    @property
    def bb(self):
        return ta.bollinger_bands(self.candles, source_type="hl2")

    @property
    def ichimoku(self):
        return ta.ichimoku_cloud(self.candles)

    def filter_trend(self):
        return self.close > self.ichimoku.span_a and self.close > self.ichimoku.span_b

    def filters(self):
        return [self.filter_trend]

    def should_long(self) -> bool:
        return self.close > self.bb[0]

    def should_short(self) -> bool:
        return False

    def should_cancel_entry(self) -> bool:
        return True

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, fee_rate=self.fee_rate)
        self.buy = qty, self.price

    def go_short(self):
        pass

    def update_position(self):
        if self.close < self.bb[1]:
            self.liquidate()
"""

SOURCES["TradingView_RSI"] = """
import jbt.indicators as ta
from jbt import utils
from jbt.strategies import Strategy


class TradingView_RSI(Strategy):
    # RSI trend (TradingView): long when RSI crosses above 35, out when it crosses below
    # xparam or 10, with a 5% stop and a 10% target.

    def hyperparameters(self):
        return [
            {'name': 'rsi', 'type': int, 'min': 10, 'max': 30, 'default': 5},
            {'name': 'stop_loss', 'type': float, 'min': .5, 'max': .99, 'default': .95},
            {'name': 'take_profit', 'type': float, 'min': 1.1, 'max': 1.2, 'default': 1.1},
            {'name': 'xparam', 'type': int, 'min': 60, 'max': 90, 'default': 75},
        ]

    @property
    def rsi(self):
        return ta.rsi(self.candles, self.hp['rsi'], sequential=True)

    def should_long(self):
        qty = utils.size_to_qty(self.balance, self.price, 3, fee_rate=self.fee_rate)
        if utils.crossed(self.rsi, 35, direction="above") and qty > 0 and self.available_margin > (qty * self.price):
            return True

    def should_short(self):
        return False

    def should_cancel_entry(self):
        return False

    def go_long(self):
        qty = utils.size_to_qty(self.balance, self.price, 3, fee_rate=self.fee_rate)
        self.buy = qty, self.price
        self.stop_loss = qty, (self.price * self.hp['stop_loss'])
        self.take_profit = qty, (self.price * self.hp['take_profit'])

    def go_short(self):
        pass

    def update_position(self):
        if utils.crossed(self.rsi, self.hp['xparam'], direction="below") or utils.crossed(self.rsi, 10, direction="below"):
            self.liquidate()
"""

SOURCES["TurtleRules"] = """
from jbt import utils
from jbt.indicators import atr, donchian
from jbt.strategies import Strategy


class TurtleRules(Strategy):
    # The original Turtle rules (Curtis Faith): 20-bar breakouts, 1% risk units of N = ATR(20),
    # up to 4 units added every half N, a 2 N stop raised with each unit, 10-bar exits.

    def __init__(self):
        super().__init__()
        self.current_pyramiding_levels = 0
        self.last_opened_price = 0
        self.last_was_profitable = False

    def before(self):
        self.vars["unit_risk_percent"] = 1
        self.vars["entry_dc_period"] = 20
        self.vars["exit_dc_period"] = 10
        self.vars["atr_period"] = 20
        self.vars["atr_multiplier"] = 2
        self.vars["maximum_pyramiding_levels"] = 4
        self.vars["pyramiding_threshold"] = 0.5
        self.vars["system_type"] = "S1"

    @property
    def entry_donchian(self):
        return donchian(self.candles, self.vars["entry_dc_period"])

    @property
    def exit_donchian(self):
        return donchian(self.candles, self.vars["exit_dc_period"])

    @property
    def atr(self):
        return atr(self.candles, self.vars["atr_period"])

    def unit_qty(self, unit_risk_percent, dollars_per_point=1):
        return ((unit_risk_percent / 100) * self.balance) / (self.atr * dollars_per_point)

    def entry_signal(self):
        if self.high >= self.entry_donchian[0]:
            return "entry_long"
        if self.low <= self.entry_donchian[2]:
            return "entry_short"
        return None

    def exit_signal(self):
        if self.high >= self.exit_donchian[0]:
            return "exit_short"
        if self.low <= self.exit_donchian[2]:
            return "exit_long"
        return None

    def should_long(self) -> bool:
        return self.entry_signal() == "entry_long"

    def should_short(self) -> bool:
        return self.entry_signal() == "entry_short"

    def should_cancel_entry(self) -> bool:
        pass

    def go_long(self):
        qty = self.unit_qty(self.vars["unit_risk_percent"])
        sl = self.price - self.vars["atr_multiplier"] * self.atr
        self.buy = qty, self.price
        self.stop_loss = qty, sl
        self.current_pyramiding_levels += 1
        self.last_opened_price = self.price

    def go_short(self):
        qty = self.unit_qty(self.vars["unit_risk_percent"])
        sl = self.price + self.vars["atr_multiplier"] * self.atr
        self.sell = qty, self.price
        self.stop_loss = qty, sl
        self.current_pyramiding_levels += 1
        self.last_opened_price = self.price

    def update_position(self):
        if self.current_pyramiding_levels < self.vars["maximum_pyramiding_levels"]:
            step = self.vars["pyramiding_threshold"] * self.atr
            if self.is_long and self.price > self.last_opened_price + step:
                self.buy = self.unit_qty(self.vars["unit_risk_percent"]), self.price
            if self.is_short and self.price < self.last_opened_price - step:
                self.sell = self.unit_qty(self.vars["unit_risk_percent"]), self.price
        if self.is_long and (self.entry_signal() == "entry_short" or self.exit_signal() == "exit_long") \\
                or self.is_short and (self.entry_signal() == "entry_long" or self.exit_signal() == "exit_short"):
            self.liquidate()
            self.current_pyramiding_levels = 0

    def on_increased_position(self, order):
        if self.is_long:
            self.stop_loss = abs(self.position.qty), self.price - self.vars["atr_multiplier"] * self.atr
        if self.is_short:
            self.stop_loss = abs(self.position.qty), self.price + self.vars["atr_multiplier"] * self.atr
        self.current_pyramiding_levels += 1
        self.last_opened_price = self.price

    def on_stop_loss(self, order):
        self.current_pyramiding_levels = 0

    def on_take_profit(self, order):
        self.last_was_profitable = True
        self.current_pyramiding_levels = 0

    def filters(self):
        return [self.S1_filter]

    def S1_filter(self):
        if self.vars["system_type"] == "S1" and self.last_was_profitable:
            self.last_was_profitable = False
            return False
        return True
"""

#: The timeframe each original was written for (1h where its text does not say).
TIMEFRAMES = {
    "DUAL_THRUST": "1h", "Donchian": "6h", "IFR2": "1h", "KDJstrategy": "1D", "MACD_EMA": "1h",
    "MAGen": "1h", "RSI2": "4h", "SMACrossover": "4h", "SimpleBollinger": "1h",
    "TradingView_RSI": "1h", "TurtleRules": "1D",
}

#: Strategies that go short (futures) or set a stop-loss inside go_long (Jesse 3 refuses that
#: in spot); the others run in spot.
FUTURES = {"DUAL_THRUST", "KDJstrategy", "MAGen", "RSI2", "SMACrossover", "TradingView_RSI",
           "TurtleRules"}

# the sources start with a newline (readability above); a module file does not need it
SOURCES = {name: text.lstrip("\n") for name, text in SOURCES.items()}
