"""Routes of the example project: (exchange, symbol, timeframe, strategy).

The bundled sample data is Coinbase BTC-USD hourly candles; import them with
    jbt import-candles coinbase BTC-USD --file jbt/data/coinbase-BTC-USD-1h.csv
then run `jbt backtest`. With Binance 1m candles imported
(`jbt import-candles binance BTC-USDT 2023-01-01`) use ("binance", "BTC-USDT", "4h", "EmaCross").
"""

routes = [
    ("coinbase", "BTC-USD", "4h", "EmaCross"),
]

# Candles strategies may read with self.get_candles(...) without trading them.
extra_candles = []
