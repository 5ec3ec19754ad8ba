"""Load and validate ``config.toml`` into frozen dataclasses.

Every key has a default, so a project without a config file works. Unknown keys and values of
the wrong type fail with one line naming the file, the key and what was expected. Environment
variables override the file: ``JBT_DATABASE_URL`` (database.url) and ``JBT_SERVER_TOKEN``
(server.token).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from jbt.errors import ConfigError

CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class DatabaseConfig:
    #: ``sqlite:///db.sqlite3`` (relative to the project folder), ``sqlite:////abs/path.db``,
    #: or ``postgresql://user:password@host:5432/name``.
    url: str = "sqlite:///db.sqlite3"


@dataclass(frozen=True)
class BacktestConfig:
    starting_balance: float = 10_000.0
    fee: float = 0.001
    maker_fee: float | None = None
    taker_fee: float | None = None
    slippage: float = 0.0
    type: str = "spot"
    leverage: float = 1.0
    warmup_candles: int = 210
    #: futures only: maintenance margin as a fraction of the position's notional value.
    maintenance_margin: float = 0.005
    #: futures only: the liquidation clearance fee, a fraction of the liquidated notional
    #: (Binance's ``liquidationFee`` of BTCUSDT); paid by a liquidation instead of the taker fee.
    liquidation_fee: float = 0.0125
    #: futures only: "charge" the stored funding events (missing history is refused) or
    #: "ignore" funding.
    funding: str = "charge"
    #: what to do with minutes missing inside the backtest period: "refuse" or "fill"
    #: (fill = carry the previous close forward as a flat, zero-volume candle).
    missing_candles: str = "refuse"
    #: true: ``self.get_candles()`` of a timeframe longer than the bar ends with the bar still
    #: forming, built from the base candles closed so far (as Jesse); false: closed bars only.
    forming_candles: bool = False

    @property
    def maker(self) -> float:
        return self.fee if self.maker_fee is None else self.maker_fee

    @property
    def taker(self) -> float:
        return self.fee if self.taker_fee is None else self.taker_fee

    @property
    def is_futures(self) -> bool:
        return self.type == "futures"


@dataclass(frozen=True)
class ExchangeConfig:
    #: Base URL of the exchange's REST API: a mirror, a testnet, or a local fake in tests.
    api_url: str | None = None
    #: Minimum milliseconds between two requests; ``None`` uses the exchange's published limit.
    rate_limit_ms: int | None = None
    #: Retries for rate limits, 5xx answers, timeouts and dropped connections.
    max_retries: int = 8
    #: Seconds to wait for one HTTP answer.
    timeout: float = 30.0
    #: Seconds before the first retry of a failed request; doubles at each retry (up to 30 s).
    retry_delay: float = 0.5
    #: Base URL of the exchange's public data archive (Binance: data.binance.vision), for
    #: ``import-candles --source archive``; a mirror or a local fake in tests.
    archive_url: str | None = None


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    #: Required when binding to anything but loopback; clients send ``Authorization: Bearer``.
    token: str | None = None
    #: Host names the server answers to besides its own address and the loopback names
    #: (``jbt.example.lan``, ``*.example.lan``); any other ``Host`` header gets a 400.
    allowed_hosts: tuple[str, ...] | None = None
    #: Backtests that run at once, each in its own worker process.
    max_backtests: int = 4
    #: Backtests that may wait for a slot; one more gets 429 with Retry-After.
    max_queued_backtests: int = 16
    #: Seconds one backtest may run before it is stopped (its request answers 422).
    backtest_timeout: float = 1800.0
    #: Largest request body in bytes; a larger one gets 413.
    max_request_bytes: int = 1_048_576
    #: Worker processes an optimisation (``POST /optimize``) may use at most; None: one per
    #: CPU core. One optimisation runs at a time.
    max_optimize_jobs: int | None = None
    #: Seconds one optimisation may run before it is stopped (its stored trials stay).
    optimize_timeout: float = 86_400.0


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    backtest: BacktestConfig = field(default_factory=BacktestConfig)
    exchanges: dict[str, ExchangeConfig] = field(default_factory=dict)
    server: ServerConfig = field(default_factory=ServerConfig)
    #: The project folder: relative paths (the SQLite file) are resolved against it.
    project_dir: Path = field(default_factory=Path.cwd)
    #: Where the values came from, for messages.
    source: str = CONFIG_FILE

    def exchange(self, name: str) -> ExchangeConfig:
        return self.exchanges.get(name, ExchangeConfig())

    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the project folder."""
        url = self.database.url
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url[len("sqlite:///") :]
            if rel and rel != ":memory:" and not Path(rel).is_absolute():
                return "sqlite:///" + str((self.project_dir / rel).resolve())
        return url

    def with_overrides(self, overrides: dict[str, Any], source: str = "overrides") -> Config:
        """A new Config with ``{"backtest": {"fee": 0.0}, ...}`` applied and validated."""
        raw = self.to_dict()
        for section, values in overrides.items():
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: '{section}' must be a table of keys")
            target = raw.setdefault(section, {})
            if section == "exchanges":
                for name, ex in values.items():
                    target.setdefault(name, {}).update(ex)
            else:
                target.update(values)
        raw.pop("project_dir", None)
        return parse_config(raw, source=source, project_dir=self.project_dir, env={})

    def snapshot(self) -> dict[str, Any]:
        """What a result or a saved session records of the config: ``to_dict()`` with the
        passwords in the database and exchange URLs masked (never stored or sent anywhere)."""
        return public_config(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every value (the server token is never included)."""
        d = {
            "database": dataclasses.asdict(self.database),
            "backtest": dataclasses.asdict(self.backtest),
            "exchanges": {k: dataclasses.asdict(v) for k, v in self.exchanges.items()},
            "server": {k: list(v) if isinstance(v, tuple) else v
                       for k, v in dataclasses.asdict(self.server).items() if k != "token"},
        }
        return d


def mask_url(url: Any) -> Any:
    """``scheme://user:***@host/...``: the URL with the password of its user info masked."""
    if not isinstance(url, str) or "@" not in url:
        return url
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    if not colon or not password:
        return url
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    """A config dict fit to show or store: database and exchange URL passwords masked, no
    server token. Also applied to snapshots saved by older versions."""
    config = dict(config)
    if isinstance(config.get("database"), dict):
        config["database"] = {**config["database"], "url": mask_url(config["database"].get("url"))}
    if isinstance(config.get("exchanges"), dict):
        config["exchanges"] = {
            name: {**ex, "api_url": mask_url(ex.get("api_url")),
                   **({"archive_url": mask_url(ex["archive_url"])} if "archive_url" in ex else {})}
            if isinstance(ex, dict) else ex
            for name, ex in config["exchanges"].items()
        }
    if isinstance(config.get("server"), dict):
        config["server"] = {k: v for k, v in config["server"].items() if k != "token"}
    return config


_SECTIONS: dict[str, type] = {
    "database": DatabaseConfig,
    "backtest": BacktestConfig,
    "server": ServerConfig,
}

_CHOICES = {
    ("backtest", "type"): ("spot", "futures"),
    ("backtest", "missing_candles"): ("refuse", "fill"),
    ("backtest", "funding"): ("charge", "ignore"),
}


def _expected(tp: Any) -> str:
    names = {float: "a number", int: "a whole number", str: "a string"}
    return names.get(tp, str(tp))


def _check_value(where: str, key: str, value: Any, annotation: str) -> Any:
    optional = "None" in annotation
    base = annotation.replace(" | None", "").strip()
    if value is None and optional:
        return None
    if base == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be true or false, got {value!r}")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: '{key}' must be a finite number, got {value!r}")
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: '{key}' must be a whole number, got {value!r}")
        return value
    if base == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: '{key}' must be a string, got {value!r}")
        return value
    if base == "tuple[str, ...]":
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: '{key}' must be a list of strings, got {value!r}")
        return tuple(value)
    raise AssertionError(f"unsupported annotation {annotation}")  # pragma: no cover


def _build(cls: type, section: str, values: Any, source: str) -> Any:
    where = f"{source} [{section}]"
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: '{section}' must be a table ([{section}])")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"{where}: unknown key '{key}'; expected one of: {', '.join(fields)}"
            )
        value = _check_value(where, key, value, str(fields[key].type))
        choices = _CHOICES.get((section, key))
        if choices and value not in choices:
            raise ConfigError(f"{where}: '{key}' must be one of {', '.join(choices)}, got {value!r}")
        kwargs[key] = value
    obj = cls(**kwargs)
    _check_ranges(obj, where)
    return obj


def _check_ranges(obj: Any, where: str) -> None:
    if isinstance(obj, BacktestConfig):
        if obj.starting_balance <= 0:
            raise ConfigError(f"{where}: 'starting_balance' must be > 0")
        for name in ("fee", "maker_fee", "taker_fee", "slippage", "maintenance_margin",
                     "liquidation_fee"):
            v = getattr(obj, name)
            if v is not None and not (0 <= v < 1):
                raise ConfigError(f"{where}: '{name}' is a fraction (0.001 = 0.1%); got {v}")
        if obj.leverage < 1:
            raise ConfigError(f"{where}: 'leverage' must be >= 1, got {obj.leverage}")
        if obj.leverage != 1 and obj.type == "spot":
            raise ConfigError(f"{where}: 'leverage' needs type = \"futures\" (spot has no leverage)")
        if obj.warmup_candles < 0:
            raise ConfigError(f"{where}: 'warmup_candles' must be >= 0")
    if isinstance(obj, ExchangeConfig):
        if obj.max_retries < 0:
            raise ConfigError(f"{where}: 'max_retries' must be >= 0")
        if obj.timeout <= 0:
            raise ConfigError(f"{where}: 'timeout' must be > 0")
        if obj.retry_delay < 0:
            raise ConfigError(f"{where}: 'retry_delay' must be >= 0")
    if isinstance(obj, ServerConfig):
        if not (0 < obj.port < 65536):
            raise ConfigError(f"{where}: 'port' must be between 1 and 65535")
        for name in ("max_backtests", "max_request_bytes"):
            if getattr(obj, name) < 1:
                raise ConfigError(f"{where}: '{name}' must be >= 1")
        if obj.max_queued_backtests < 0:
            raise ConfigError(f"{where}: 'max_queued_backtests' must be >= 0")
        if obj.backtest_timeout <= 0:
            raise ConfigError(f"{where}: 'backtest_timeout' must be > 0 (seconds)")
        if obj.max_optimize_jobs is not None and obj.max_optimize_jobs < 1:
            raise ConfigError(f"{where}: 'max_optimize_jobs' must be >= 1")
        if obj.optimize_timeout <= 0:
            raise ConfigError(f"{where}: 'optimize_timeout' must be > 0 (seconds)")


def parse_config(
    raw: dict[str, Any],
    *,
    source: str = CONFIG_FILE,
    project_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Validate a parsed TOML document and return a frozen Config."""
    env = os.environ if env is None else env
    sections: dict[str, Any] = {}
    exchanges: dict[str, ExchangeConfig] = {}
    for name, values in raw.items():
        if name == "exchanges":
            if not isinstance(values, dict):
                raise ConfigError(f"{source}: 'exchanges' must be a table ([exchanges.NAME])")
            for ex_name, ex_values in values.items():
                exchanges[ex_name] = _build(
                    ExchangeConfig, f"exchanges.{ex_name}", ex_values, source
                )
        elif name in _SECTIONS:
            sections[name] = _build(_SECTIONS[name], name, values, source)
        else:
            raise ConfigError(
                f"{source}: unknown section [{name}]; expected one of: "
                f"{', '.join([*_SECTIONS, 'exchanges'])}"
            )
    database = sections.get("database", DatabaseConfig())
    if env.get("JBT_DATABASE_URL"):
        database = DatabaseConfig(url=env["JBT_DATABASE_URL"])
    server = sections.get("server", ServerConfig())
    if env.get("JBT_SERVER_TOKEN"):
        server = dataclasses.replace(server, token=env["JBT_SERVER_TOKEN"])
    return Config(
        database=database,
        backtest=sections.get("backtest", BacktestConfig()),
        exchanges=exchanges,
        server=server,
        project_dir=(project_dir or Path.cwd()).resolve(),
        source=source,
    )


def load_config(project_dir: Path | str | None = None, env: dict[str, str] | None = None) -> Config:
    """Read ``config.toml`` from the project folder (defaults when the file does not exist)."""
    project = Path(project_dir or Path.cwd()).resolve()
    path = project / CONFIG_FILE
    raw: dict[str, Any] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, source=str(path), project_dir=project, env=env)
