"""Candle imports from files (:mod:`jbt.importers.files`); the exchange import is
:mod:`jbt.modes.import_candles_mode`. Both write through :mod:`jbt.candles`."""
