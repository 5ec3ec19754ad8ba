"""Column indices of an in-memory candle array (Jesse's order) and time units."""

TIMESTAMP = 0
OPEN = 1
CLOSE = 2
HIGH = 3
LOW = 4
VOLUME = 5

#: Column order of the in-memory candle array.
CANDLE_COLUMNS = ("timestamp", "open", "close", "high", "low", "volume")

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
