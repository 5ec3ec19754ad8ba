"""Request and response models of the HTTP API.

Requests are validated here as far as they can be without the project: names match their
patterns, timeframes are known, config overrides name real keys within sane ranges. What needs
the project (does the strategy folder exist? do the dates parse and come in order?) is checked by
the controllers, which answer 422 with the same kind of one-line message.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from jbt.errors import InputError
from jbt.timeframes import normalize

#: A strategy is a class in ``strategies/<Name>/__init__.py``: an identifier, never a path.
STRATEGY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_EXCHANGE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_HP_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_exchange(value: str) -> str:
    if not _EXCHANGE.fullmatch(value):
        raise ValueError(
            f"exchange '{value}' is not an exchange name; use an id like 'binance' or 'binance-futures'"
        )
    return value.lower()


def _check_symbol(value: str) -> str:
    from jbt.symbols import normalize_symbol

    try:
        return normalize_symbol(value)
    except InputError as exc:
        raise ValueError(str(exc)) from None


class RouteIn(_Strict):
    """One route: a strategy trading one symbol on one exchange at one timeframe."""

    exchange: str = Field(examples=["binance"], max_length=32)
    symbol: str = Field(examples=["BTC-USDT"], max_length=41)
    timeframe: str = Field(examples=["1h"], max_length=8)
    strategy: str = Field(examples=["SmaCross"], max_length=64)

    _exchange = field_validator("exchange")(_check_exchange)
    _symbol = field_validator("symbol")(_check_symbol)

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        try:
            return normalize(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if not STRATEGY_NAME.fullmatch(value):
            raise ValueError(
                f"strategy '{value}' is not a strategy name: use the class name of a folder in "
                "strategies/ (letters, digits and underscores; no paths or dots)"
            )
        return value


class BacktestOverrides(_Strict):
    """``[backtest]`` keys of config.toml to override for this run (unset keys keep the file's)."""

    starting_balance: float | None = Field(None, gt=0, le=1e15)
    fee: float | None = Field(None, ge=0, lt=1)
    maker_fee: float | None = Field(None, ge=0, lt=1)
    taker_fee: float | None = Field(None, ge=0, lt=1)
    slippage: float | None = Field(None, ge=0, lt=1)
    type: Literal["spot", "futures"] | None = None
    leverage: float | None = Field(None, ge=1, le=125)
    warmup_candles: int | None = Field(None, ge=0, le=100_000)
    maintenance_margin: float | None = Field(None, ge=0, lt=1)
    liquidation_fee: float | None = Field(None, ge=0, lt=1)
    funding: Literal["charge", "ignore"] | None = None
    missing_candles: Literal["refuse", "fill"] | None = None


class ConfigOverrides(_Strict):
    """Config sections a request may override. Only ``backtest``: a request can never point the
    server at another database, exchange URL or token."""

    backtest: BacktestOverrides | None = None


class BacktestRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "routes": [
                        {
                            "exchange": "binance",
                            "symbol": "BTC-USDT",
                            "timeframe": "1h",
                            "strategy": "SmaCross",
                        }
                    ],
                    "end": "2024-01-04",
                    "config": {"backtest": {"fee": 0.0005, "warmup_candles": 30}},
                }
            ]
        },
    )

    routes: list[RouteIn] = Field(min_length=1, max_length=20)
    start: str | None = Field(None, max_length=40, examples=["2024-01-01"])
    end: str | None = Field(None, max_length=40, examples=["2024-01-03"])
    config: ConfigOverrides | None = None
    #: Per strategy name, hyperparameter values for this run (``jbt backtest --hp``): converted
    #: to the declared type and checked against min/max by the controller.
    hyperparameters: dict[str, dict[str, bool | int | float | str]] | None = Field(
        None, examples=[{"SmaCross": {"fast": 12, "slow": 40}}]
    )
    #: Save the run as a session (``GET /sessions``); ``session_id`` is null when false.
    save: bool = True

    @field_validator("hyperparameters")
    @classmethod
    def _hyperparameters(
        cls, value: dict[str, dict[str, Any]] | None
    ) -> dict[str, dict[str, Any]] | None:
        for strategy, values in (value or {}).items():
            if not STRATEGY_NAME.fullmatch(strategy):
                raise ValueError(
                    f"'{strategy[:64]}' is not a strategy name (the class name of a folder in "
                    "strategies/)"
                )
            for name in values:
                if not _HP_NAME.fullmatch(name):
                    raise ValueError(
                        f"{strategy}: '{name[:64]}' is not a hyperparameter name (letters, "
                        "digits and underscores)"
                    )
        return value


#: A study's name: it is also a path segment (``GET /studies/{name}``).
STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=@-]{0,127}")
_OPTION = Field(default_factory=list, max_length=50)


class OptimizeRequest(_Strict):
    """The options of ``jbt optimize``. Every one is checked as the command line checks it, with
    the same one-line messages (which name the command's flags: ``--trials`` is ``trials``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "routes": [{"exchange": "binance", "symbol": "BTC-USDT", "timeframe": "1h",
                                "strategy": "SmaCross"}],
                    "start": "2024-01-01", "end": "2024-03-01",
                    "trials": 200, "objectives": ["sharpe"], "seed": 0, "study": "sma-1h",
                    "space": ["fast=5:30"], "min_trades": 5,
                }
            ]
        },
    )

    #: Default: the project's ``routes.py``, as ``jbt optimize``.
    routes: list[RouteIn] | None = Field(None, min_length=1, max_length=20)
    start: str | None = Field(None, max_length=40, examples=["2024-01-01"])
    end: str | None = Field(None, max_length=40, examples=["2024-03-01"])
    #: Trials the study should have (``--trials``); the same request continues a study.
    trials: int = Field(100, le=1_000_000)
    #: Worker processes (``--jobs``); capped at ``[server] max_optimize_jobs`` (the default).
    jobs: int | None = Field(None, le=1024)
    #: ``--objective``: a report metric (``sharpe``, ``calmar``, ``net_profit:max``, ...) or
    #: ``custom``; two for a multi-objective study. Default ``["sharpe"]``.
    objectives: list[str] | None = Field(None, max_length=5)
    sampler: str = Field("tpe", max_length=16)
    seed: int = Field(0, le=2**32 - 1)
    #: ``--study``: default ``STRATEGY-SYMBOL-TIMEFRAME``.
    study: str | None = Field(None, max_length=128)
    #: ``--test``: the testing share at the end of the period, e.g. ``30%`` (the default).
    test: str | None = Field(None, max_length=16)
    #: ``--test-start``: testing starts at this date (instead of ``test``).
    test_start: str | None = Field(None, max_length=40)
    min_trades: int = Field(1, le=1_000_000_000)
    #: ``--space NAME=LO:HI[:STEP]`` or ``NAME=A,B``, each.
    space: list[str] = _OPTION
    #: ``--hp NAME=VALUE``, each: fixed instead of searched.
    hp: list[str] = _OPTION
    batch: int = Field(16, le=100_000)
    config: ConfigOverrides | None = None

    @field_validator("objectives", "space", "hp")
    @classmethod
    def _short_items(cls, value: list[str] | None) -> list[str] | None:
        for item in value or ():
            if len(item) > 200:
                raise ValueError(f"'{item[:40]}...' is longer than 200 characters")
        return value

    @field_validator("study")
    @classmethod
    def _study(cls, value: str | None) -> str | None:
        if value is not None and not STUDY_NAME.fullmatch(value):
            raise ValueError(
                f"study '{value[:64]}' is not a study name: letters, digits and . _ + = @ - "
                "(starting with a letter or digit, at most 128)"
            )
        return value


class ImportRequest(_Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"exchange": "binance", "symbol": "BTC-USDT", "start": "2024-01-01", "end": "2024-01-02"}
            ]
        },
    )

    exchange: str = Field(examples=["binance"], max_length=32)
    symbol: str = Field(examples=["BTC-USDT"], max_length=41)
    start: str = Field(max_length=40, examples=["2024-01-01"])
    #: Defaults to now.
    end: str | None = Field(None, max_length=40, examples=["2024-02-01"])

    _exchange = field_validator("exchange")(_check_exchange)
    _symbol = field_validator("symbol")(_check_symbol)


class JobOut(BaseModel):
    """A background job. ``status`` is queued | running | finished | failed | cancelled."""

    id: str
    kind: str
    params: dict[str, Any]
    status: Literal["queued", "running", "finished", "failed", "cancelled"]
    cancel_requested: bool
    created_at: int
    started_at: int | None
    finished_at: int | None
    progress: dict[str, Any]
    counts: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None


class CoverageOut(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    first: int
    last: int
    count: int
    missing: int


class RouteOut(BaseModel):
    exchange: str
    symbol: str
    timeframe: str
    strategy: str


class Period(BaseModel):
    start: int
    end: int


class EquityPoint(BaseModel):
    time: int
    equity: float


class BacktestOut(BaseModel):
    """The JSON ``jbt backtest --json`` writes (documented in the README)."""

    session_id: int | None
    config: dict[str, Any]
    routes: list[RouteOut]
    period: Period
    starting_balance: float
    finishing_balance: float
    metrics: dict[str, Any]
    trades: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    equity: list[EquityPoint]
    duration_s: float
    warnings: list[str] = []
    save_error: str | None = None


class SessionSummary(BaseModel):
    id: int
    created_at: int
    status: str
    duration_s: float
    start: int | None
    end: int | None
    routes: list[dict[str, Any]]
    starting_balance: float | None
    finishing_balance: float | None
    metrics: dict[str, Any]
    error: str | None


class ErrorOut(BaseModel):
    """Every error answer: ``detail`` is one line a person can act on."""

    detail: str
    error: str


class StrategyErrorOut(ErrorOut):
    strategy: str | None
    file: str | None
    line: int | None


class StudySummary(BaseModel):
    """A line of ``GET /studies`` (``jbt optimize list``)."""

    study: str
    created_at: int
    routes: list[RouteOut]
    objectives: list[dict[str, str]]
    sampler: str
    seed: int
    train: list[int]
    test: list[int]
    trials: int
    feasible: int
    best: float | None
    job: str | None
