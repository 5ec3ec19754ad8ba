"""deferred_checkpoints: a bulk import's commits only append to SQLite's WAL; the setting is
restored after (also after an error) and the WAL is copied into the database file once."""

from __future__ import annotations

import numpy as np
import pytest

from jbt import candles
from jbt.models import deferred_checkpoints, open_database

T0 = 1_577_836_800_000


def _rows(first: int, n: int) -> np.ndarray:
    ts = T0 + (first + np.arange(n, dtype=np.float64)) * 60_000
    price = 100.0 + np.arange(n) % 7
    return np.column_stack([ts, price, price + 0.5, price + 1.0, price - 1.0, np.ones(n)])


def _checkpoint(db) -> tuple[int, int]:
    """(WAL frames, frames copied into the database file) after a passive checkpoint."""
    _busy, log, done = db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return log, done


def _import(db, first_month: int) -> None:
    for month in range(first_month, first_month + 4):  # a transaction each, ~40 pages each
        with candles._write_transaction(db):
            candles.insert_candles("binance", "BTC-USDT", "1m", _rows(month * 5000, 5000))


def test_commits_inside_append_to_the_wal_and_one_checkpoint_follows(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.execute_sql("PRAGMA wal_autocheckpoint = 20")
    # as configured: a commit past 20 pages of WAL copies them into the database file, so
    # the WAL holds only what came after the last of those checkpoints
    _import(db, 0)
    usual, _ = _checkpoint(db)
    with deferred_checkpoints(db):
        assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        _import(db, 4)
        held, _ = _checkpoint(db)  # every frame of the four commits still in the WAL
        _import(db, 8)
    assert held > 3 * usual
    assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (20,)
    log, done = _checkpoint(db)
    assert log == done  # the exit copied the WAL into the database file
    assert candles.count_candles("binance", "BTC-USDT", "1m") == 60_000
    assert candles.load_candles("binance", "BTC-USDT", "1m")[:, 0].tolist() == \
        _rows(0, 60_000)[:, 0].tolist()


def test_the_setting_is_restored_after_an_error(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    (before,) = db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()
    with pytest.raises(RuntimeError), deferred_checkpoints(db):
        raise RuntimeError("stop")
    assert db.execute_sql("PRAGMA wal_autocheckpoint").fetchone() == (before,)
