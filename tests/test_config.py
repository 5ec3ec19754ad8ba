"""config.toml loading: defaults, validation messages, overrides, environment."""

from pathlib import Path

import pytest

from jbt.config import BacktestConfig, load_config
from jbt.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_missing_file_gives_defaults(tmp_path):
    cfg = load_config(tmp_path, env={})
    assert cfg.backtest == BacktestConfig()
    assert cfg.backtest.maker == cfg.backtest.taker == 0.001
    assert cfg.database_url() == "sqlite:///" + str((tmp_path / "db.sqlite3").resolve())


def test_repository_config_is_valid_and_equals_defaults():
    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root, env={})
    assert cfg.backtest == BacktestConfig()
    assert cfg.server.host == "127.0.0.1" and cfg.server.token is None


def test_values_are_read_and_typed(tmp_path):
    write(
        tmp_path,
        """
[backtest]
starting_balance = 5000
fee = 0.0004
maker_fee = 0.0002
type = "futures"
leverage = 3
[exchanges.binance]
api_url = "http://127.0.0.1:9999"
max_retries = 2
""",
    )
    cfg = load_config(tmp_path, env={})
    assert cfg.backtest.starting_balance == 5000.0
    assert isinstance(cfg.backtest.starting_balance, float)
    assert cfg.backtest.maker == 0.0002 and cfg.backtest.taker == 0.0004
    assert cfg.backtest.is_futures and cfg.backtest.leverage == 3.0
    assert cfg.exchange("binance").api_url == "http://127.0.0.1:9999"
    assert cfg.exchange("binance").max_retries == 2
    assert cfg.exchange("kraken").api_url is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[backtest]\nfees = 0.1\n", "unknown key 'fees'"),
        ("[backtest]\nfee = \"0.1\"\n", "'fee' must be a number"),
        ("[backtest]\nwarmup_candles = 2.5\n", "'warmup_candles' must be a whole number"),
        ("[backtest]\nfee = true\n", "'fee' must be a number"),
        ("[backtest]\ntype = \"margin\"\n", "'type' must be one of spot, futures"),
        ("[backtest]\nleverage = 5\n", "'leverage' needs type = \"futures\""),
        ("[backtest]\nfee = 1.5\n", "'fee' is a fraction"),
        ("[backtest]\nstarting_balance = 0\n", "'starting_balance' must be > 0"),
        ("[backtets]\nfee = 0.1\n", "unknown section [backtets]"),
        ("[exchanges.binance]\napi = \"x\"\n", "unknown key 'api'"),
        ("[server]\nport = 70000\n", "'port' must be between 1 and 65535"),
        ("[backtest\nfee = 0.1\n", "not valid TOML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text, needle):
    write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    message = str(info.value)
    assert needle in message
    assert "config.toml" in message
    assert "\n" not in message


def test_environment_overrides_database_and_token(tmp_path):
    cfg = load_config(
        tmp_path, env={"JBT_DATABASE_URL": "postgresql://u:p@h/db", "JBT_SERVER_TOKEN": "s3"}
    )
    assert cfg.database_url() == "postgresql://u:p@h/db"
    assert cfg.server.token == "s3"
    assert "token" not in cfg.to_dict()["server"]


def test_overrides_are_validated_and_do_not_mutate(tmp_path):
    cfg = load_config(tmp_path, env={})
    other = cfg.with_overrides({"backtest": {"fee": 0.0, "slippage": 0.001}})
    assert other.backtest.fee == 0.0 and other.backtest.slippage == 0.001
    assert cfg.backtest.fee == 0.001
    with pytest.raises(ConfigError, match="unknown key 'feee'"):
        cfg.with_overrides({"backtest": {"feee": 0.0}})


def test_config_is_frozen(tmp_path):
    cfg = load_config(tmp_path, env={})
    with pytest.raises(AttributeError):
        cfg.backtest.fee = 0.5  # type: ignore[misc]


def test_snapshot_masks_passwords_and_never_holds_the_token(tmp_path):
    write(
        tmp_path,
        """
[database]
url = "postgresql://trader:s3cret@db.local:5432/jbt"
[exchanges.binance]
api_url = "https://user:hunter2@mirror.local/api"
[server]
token = "tok"
""",
    )
    cfg = load_config(tmp_path, env={})
    snap = cfg.snapshot()
    assert snap["database"]["url"] == "postgresql://trader:***@db.local:5432/jbt"
    assert snap["exchanges"]["binance"]["api_url"] == "https://user:***@mirror.local/api"
    text = repr(snap)
    assert "s3cret" not in text and "hunter2" not in text and "tok" not in text
    # the live config keeps the real values
    assert cfg.database_url() == "postgresql://trader:s3cret@db.local:5432/jbt"
    # a URL without a password is left as it is
    assert load_config(tmp_path / "none", env={}).snapshot()["database"]["url"] == (
        "sqlite:///db.sqlite3"
    )
