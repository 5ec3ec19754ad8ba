"""jbt: backtest crypto trading strategies from the command line."""

__version__ = "0.1.0"
