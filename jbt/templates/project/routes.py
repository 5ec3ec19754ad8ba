# Which strategy trades which symbol, on which exchange and timeframe.
# Each route keeps its own position; all routes share one balance.
#   (exchange, symbol, timeframe, strategy class name in strategies/<Name>/__init__.py)
routes = [
    ("coinbase", "BTC-USD", "4h", "$strategy"),
]

# Candles a strategy reads with self.get_candles(...) without trading them.
extra_candles = [
    # ("coinbase", "BTC-USD", "1D"),
]
