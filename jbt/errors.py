"""Errors the user can fix: shown as one line, exit code non-zero, traceback only with --debug."""


class JbtError(Exception):
    """A problem the user can act on. The message is one line that says what and how to fix."""

    exit_code = 1


class ConfigError(JbtError):
    """config.toml is missing a value, has an unknown key, or a value of the wrong type."""


class InputError(JbtError):
    """A command-line or API argument is invalid (date, symbol, exchange, timeframe...)."""

    exit_code = 2


class ExchangeError(JbtError):
    """The exchange could not be reached or answered with an error after all retries."""


class CandlesMissingError(JbtError):
    """The candles a backtest needs are not in the database."""


class StrategyError(JbtError):
    """User strategy code raised; the message names the file, line and bar time."""


class Cancelled(JbtError):
    """Work stopped because it was asked to (Ctrl-C, ``DELETE /jobs/ID``, shutdown) while it
    was waiting; what was saved before is kept."""

    exit_code = 130


class Interrupted(KeyboardInterrupt):
    """The user's Ctrl-C, as raised by the command line's SIGINT handler.

    A plain ``KeyboardInterrupt`` raised by strategy code is the strategy's error, not the
    user's: the engine reports it as a :class:`StrategyError` and lets this one through.
    """
