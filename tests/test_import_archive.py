"""``--source archive``: Binance's public data files from a local fake laid out like
data.binance.vision (tests/fakes/binance_archive.py), then the REST API for the newest days."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from fakes.binance import FakeBinance, FakeMarket, write_project
from fakes.binance_archive import FakeArchive
from typer.testing import CliRunner

from jbt import candles, funding
from jbt.cli import app
from jbt.config import parse_config
from jbt.errors import ExchangeError, InputError
from jbt.models import ArchiveFile, close_database, open_database
from jbt.modes import import_archive_mode, import_candles_mode

MIN = 60_000
H = 60 * MIN
DAY = 24 * H
T0 = 1_577_836_800_000  # 2020-01-01 00:00 UTC
APR = T0 + 91 * DAY  # 2020-04-01


def config_for(server, archive, **keys):
    table = {"api_url": server.url, "archive_url": archive.url, "retry_delay": 0.01, **keys}
    return parse_config({"exchanges": {"binance": table, "binance-futures": table}}, env={})


@pytest.fixture
def sqlite_db(tmp_path):
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    yield database
    database.close()


def stored(exchange="binance", symbol="BTC-USDT"):
    return candles.load_candles(exchange, symbol, "1m")


def archive_files() -> list[str]:
    return sorted(r.name for r in ArchiveFile.select())


LISTING = T0 + 5 * DAY + 123 * MIN  # 2020-01-06 02:03
HOLE = (T0 + 40 * DAY + 600 * MIN, T0 + 40 * DAY + 609 * MIN)  # 2020-02-10 10:00-10:09


def spot(**kw) -> FakeMarket:
    return FakeMarket("BTC", "USDT", LISTING, T0 + 200 * DAY, holes=[HOLE], seed=51, **kw)


def test_files_then_the_api_for_the_days_not_archived_yet(sqlite_db):
    now = APR + 6 * DAY + 5 * H  # 2020-04-07 05:00: April is the current month
    with FakeBinance([spot()]) as server, FakeArchive(server, daily_until=APR + 4 * DAY) as archive:
        summary = import_archive_mode.run(config_for(server, archive), "binance", "BTC-USDT",
                                          "2020-01-01", now=now)
        expected = server.candles("BTCUSDT", T0, now)  # up to the last closed minute
        downloads = archive.downloads()
        asked = [r.path.rsplit("/", 1)[1] for r in archive.requests]
        klines = [(int(r.params["startTime"]), int(r.params.get("endTime", 0)))
                  for r in server.klines_requests() if r.params["startTime"] != "0"]
    np.testing.assert_array_equal(stored(), expected)
    # three monthly files, then April's daily files up to the last one published
    assert downloads == ["BTCUSDT-1m-2020-01.zip", "BTCUSDT-1m-2020-02.zip",
                         "BTCUSDT-1m-2020-03.zip", *(f"BTCUSDT-1m-2020-04-0{d}.zip"
                                                     for d in range(1, 5))]
    assert all(f"{name}.CHECKSUM" in asked for name in downloads)
    assert summary.not_archived == ["BTCUSDT-1m-2020-04-05.zip", "BTCUSDT-1m-2020-04-06.zip"]
    assert (summary.files, summary.downloaded, summary.already_imported) == (9, 7, 0)
    archived = int(np.searchsorted(expected[:, 0], APR + 4 * DAY))
    assert summary.rows_read == summary.inserted == archived
    assert summary.covered == [(T0, APR + 4 * DAY - 1)]
    # the newest days from the REST API, and nothing else from it
    assert summary.rest_ranges == [(APR + 4 * DAY, now - 1)]
    (rest,) = summary.rest
    assert rest.inserted == len(expected) - archived
    assert klines and all(APR + 4 * DAY <= a and b < now for a, b in klines)
    # the exchange's hole inside a file is reported; the minutes before the listing are not
    assert summary.missing_ranges == [HOLE] and summary.missing == 10
    assert summary.notes == ["BTC-USDT begins in the archive at 2020-01-06 02:03; nothing "
                             "before it"]
    assert archive_files() == sorted(downloads)
    # a re-run downloads nothing and reports the same hole
    with FakeBinance([spot()]) as server, FakeArchive(server, daily_until=APR + 4 * DAY) as archive:
        again = import_archive_mode.run(config_for(server, archive), "binance", "BTC-USDT",
                                        "2020-01-01", now=now)
        assert archive.downloads() == []
    # (April 5 and 6 are not archived, but stored in full from the API)
    assert (again.already_imported, again.downloaded, again.inserted) == (9, 0, 0)
    assert again.rest == []
    assert again.missing_ranges == [HOLE]


def test_the_previous_month_comes_in_daily_files_until_its_monthly_file_is_out(sqlite_db):
    now = APR + DAY + 10 * H  # 2020-04-02 10:00; March's monthly file is not published yet
    market = spot()
    with FakeBinance([market]) as server, FakeArchive(server, monthly_until=T0 + 60 * DAY,
                                                        daily_until=APR + DAY) as archive:
        summary = import_archive_mode.run(config_for(server, archive), "binance", "BTC-USDT",
                                          "2020-02-20", "2020-04-02", now=now)
        expected = server.candles("BTCUSDT", T0 + 50 * DAY, APR + DAY)
        downloads = archive.downloads()
        refused = [r.path.rsplit("/", 1)[1] for r in archive.requests if r.status == 404]
    np.testing.assert_array_equal(stored(), expected)
    assert downloads == ["BTCUSDT-1m-2020-02.zip",
                         *(f"BTCUSDT-1m-2020-03-{d:02d}.zip" for d in range(1, 32)),
                         "BTCUSDT-1m-2020-04-01.zip"]
    assert refused == ["BTCUSDT-1m-2020-03.zip"]
    assert summary.rest == [] and summary.not_archived == []
    # only the wanted part of February's file is stored
    assert stored()[0, 0] == T0 + 50 * DAY


def test_spot_files_from_2025_on_in_microseconds(db):
    jan25 = 1_735_689_600_000
    market = FakeMarket("ETH", "USDT", jan25, jan25 + 80 * DAY, seed=52)
    with FakeBinance([market]) as server, FakeArchive(server) as archive:
        data = archive.file("/data/spot/monthly/klines/ETHUSDT/1m/ETHUSDT-1m-2025-01.zip")
        first_line = zipfile.ZipFile(BytesIO(data)).read("ETHUSDT-1m-2025-01.csv").split(b"\n")[0]
        assert first_line.split(b",")[0] == str(jan25 * 1000).encode()  # 16 digits
        summary = import_archive_mode.run(config_for(server, archive), "binance", "ETH-USDT",
                                          "2025-01-01", "2025-03-01", now=jan25 + 70 * DAY)
        expected = server.candles("ETHUSDT", jan25, jan25 + 59 * DAY)
    np.testing.assert_array_equal(stored(symbol="ETH-USDT"), expected)
    assert summary.inserted == 59 * 1440 and summary.missing_ranges == []


def test_a_wrong_checksum_is_refused_in_one_line_with_nothing_stored_from_it(tmp_path):
    market = spot()
    with FakeBinance([market]) as server, FakeArchive(
            server, bad_checksum={"BTCUSDT-1m-2020-02.zip"}) as archive:
        write_project(tmp_path, {"binance": server}, retry_delay=0.01)
        with open(tmp_path / "config.toml", "a") as f:
            f.write(f'archive_url = "{archive.url}"\n')
        args = ["--project", str(tmp_path), "import-candles", "binance", "BTC-USDT",
                "2020-01-01", "--end", "2020-04-01", "--source", "archive"]
        result = CliRunner().invoke(app, args)
        jan = server.candles("BTCUSDT", T0, T0 + 31 * DAY)
        assert result.exit_code == 1
        lines = [line for line in result.output.splitlines() if line.strip()
                 and not line.startswith("binance BTC-USDT archive")]
        assert len(lines) == 1, result.output
        assert lines[0].startswith(
            "Error: binance archive: BTCUSDT-1m-2020-02.zip does not match its published "
            "SHA-256 checksum (got ")
        assert lines[0].endswith("…); refused, nothing stored from it (1 file imported "
                                 "before it is kept; run again to resume)")
        open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        try:
            np.testing.assert_array_equal(stored(), jan)  # January, nothing of February
            assert archive_files() == ["BTCUSDT-1m-2020-01.zip"]
        finally:
            close_database()
        # the mirror is fixed: the re-run downloads February on, not January again
        archive.bad_checksum.clear()
        archive.reset_requests()
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert archive.downloads() == ["BTCUSDT-1m-2020-02.zip", "BTCUSDT-1m-2020-03.zip"]
        expected = server.candles("BTCUSDT", T0, APR)
    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        np.testing.assert_array_equal(stored(), expected)
    finally:
        close_database()


def files_committed(project: Path) -> list[str]:
    path = project / "db.sqlite3"
    if not path.exists():
        return []
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return [r[0] for r in con.execute('SELECT "name" FROM "archive_file" ORDER BY 1')]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def test_sigkill_then_a_rerun_downloads_only_what_is_missing(tmp_path):
    market = FakeMarket("BTC", "USDT", T0, T0 + 190 * DAY, seed=53)
    months = [f"BTCUSDT-1m-2020-0{m}.zip" for m in range(1, 5)]
    with FakeBinance([market]) as server, FakeArchive(server, latency_s=0.1) as archive:
        archive.prebuild(f"/data/spot/monthly/klines/BTCUSDT/1m/{name}" for name in months)
        write_project(tmp_path, {"binance": server}, retry_delay=0.01)
        with open(tmp_path / "config.toml", "a") as f:
            f.write(f'archive_url = "{archive.url}"\n')
        args = ["--project", str(tmp_path), "import-candles", "binance", "BTC-USDT",
                "2020-01-01", "--end", "2020-05-01", "--source", "archive"]
        proc = subprocess.Popen([sys.executable, "-m", "jbt", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        # killed as soon as a file is committed (the files are downloaded four at a time, so
        # the requests alone cannot time it)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if files_committed(tmp_path):
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        before = files_committed(tmp_path)
        assert 1 <= len(before) < 4
        archive.reset_requests()
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert archive.downloads() == [name for name in months if name not in before]
        expected = server.candles("BTCUSDT", T0, T0 + 121 * DAY)
    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        np.testing.assert_array_equal(stored(), expected)
        assert archive_files() == months
    finally:
        close_database()


def test_the_rows_equal_a_rest_import_of_an_overlapping_week(tmp_path):
    market = spot()
    with FakeBinance([market]) as server, FakeArchive(server) as archive:
        config = config_for(server, archive)
        open_database(f"sqlite:///{tmp_path / 'archive.sqlite3'}")
        try:
            import_archive_mode.run(config, "binance", "BTC-USDT", "2020-01-01", "2020-03-01",
                                    now=APR)
            from_archive = candles.load_candles("binance", "BTC-USDT", "1m", T0 + 27 * DAY,
                                                T0 + 35 * DAY - MIN)
        finally:
            close_database()
        open_database(f"sqlite:///{tmp_path / 'rest.sqlite3'}")
        try:
            import_candles_mode.run(config, "binance", "BTC-USDT", "2020-01-28", "2020-02-05")
            from_rest = candles.load_candles("binance", "BTC-USDT", "1m")
        finally:
            close_database()
    assert len(from_rest) == 8 * 1440
    np.testing.assert_array_equal(from_archive, from_rest)


def contract() -> FakeMarket:
    return FakeMarket("BTC", "USDT", LISTING, T0 + 120 * DAY, seed=54,
                      funding_schedule=[(0, 8 * H), (T0 + 40 * DAY, 4 * H)],
                      funding_holes=[(T0 + 20 * DAY + 8 * H, T0 + 20 * DAY + 8 * H)])


@pytest.mark.parametrize("dataset", ["candles", "mark", "funding"])
def test_usdm_futures_klines_mark_prices_and_funding(sqlite_db, dataset):
    now = T0 + 74 * DAY + 5 * H  # 2020-03-15 05:00
    with FakeBinance([], [contract()]) as server, FakeArchive(server) as archive:
        summary = import_archive_mode.run(config_for(server, archive), "binance-futures",
                                          "BTC-USDT", "2020-01-01", "2020-03-15T05:00",
                                          dataset=dataset, now=now)
        downloads = archive.downloads()
        if dataset == "funding":
            expected = server.funding("BTCUSDT", T0, now)
        elif dataset == "mark":
            expected = server.mark_candles("BTCUSDT", T0, now)
        else:
            expected = server.candles("BTCUSDT", T0, now, futures=True)
    folder = {"candles": "klines", "mark": "markPriceKlines", "funding": "fundingRate"}[dataset]
    assert {r.dataset for r in ArchiveFile.select()} == {folder}
    if dataset == "funding":
        # monthly files for January and February, the current month from the REST API
        assert downloads == ["BTCUSDT-fundingRate-2020-01.zip",
                             "BTCUSDT-fundingRate-2020-02.zip"]
        assert summary.rest_ranges == [(T0 + 60 * DAY, now - 1)]
        events = funding.load_funding("binance-futures", "BTC-USDT")
        np.testing.assert_array_equal(events[:, funding.TIME], expected[:, 0])
        np.testing.assert_array_equal(events[:, funding.RATE], expected[:, 1])
        np.testing.assert_array_equal(events[:, funding.INTERVAL], expected[:, 3])
        # the archive has no mark prices; the API does
        from_api = events[:, funding.TIME] >= T0 + 60 * DAY
        assert np.isnan(events[~from_api, funding.MARK_PRICE]).all()
        np.testing.assert_array_equal(events[from_api, funding.MARK_PRICE],
                                      expected[from_api, 2])
        assert summary.missing_ranges == [(T0 + 20 * DAY + 8 * H, T0 + 20 * DAY + 8 * H)]
        assert funding.known_spans("binance-futures", "BTC-USDT") == [(T0, now - 1)]
    else:
        store = "binance-futures:mark" if dataset == "mark" else "binance-futures"
        assert downloads[:2] == [f"BTCUSDT-1m-2020-0{m}.zip" for m in (1, 2)]
        assert downloads[2:] == [f"BTCUSDT-1m-2020-03-{d:02d}.zip" for d in range(1, 15)]
        assert summary.rest_ranges == [(T0 + 74 * DAY, now - 1)]
        np.testing.assert_array_equal(stored(store), expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kraken", "BTC-USD", "2020-01-01", "--source", "archive"],
         "Error: --source archive is for binance and binance-futures (Binance's public data "
         "archive); kraken has none that jbt knows"),
        (["binance", "BTC-USDT", "2020-01-01", "--source", "archive", "--mark"],
         "Error: --mark is for perpetual futures: use binance-futures (USDⓈ-M), not binance"),
        (["binance", "BTC-USDT", "2020-01-01", "--source", "archive", "--refetch-gaps"],
         "Error: --refetch-gaps is for --source api; the archive's files do not change"),
        (["binance", "BTC-USDT", "2020-01-01", "--source", "ftp"],
         "Error: --source must be one of api, archive, got 'ftp'"),
        (["binance", "BTCUSDT", "2020-01-01", "--source", "archive"],
         "Error: symbol 'BTCUSDT' must be written BASE-QUOTE, like BTC-USDT; did you mean "
         "BTC-USDT?"),
        (["binance", "BTC-USDT", "--file", "x.csv", "--mark"],
         "Error: --funding, --mark and --source are for exchange imports, not --file"),
    ],
)
def test_bad_archive_options_are_one_line_without_a_database(tmp_path, args, message):
    result = CliRunner().invoke(app, ["--project", str(tmp_path), "import-candles", *args])
    assert result.exit_code == 2
    assert result.output.strip() == message
    assert not (tmp_path / "db.sqlite3").exists()


def test_a_file_the_importer_refuses_stops_the_import(sqlite_db):
    with FakeBinance([spot()]) as server, FakeArchive(server) as archive:
        path = "/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2020-02.zip"
        good = archive.file(path)
        text = zipfile.ZipFile(BytesIO(good)).read("BTCUSDT-1m-2020-02.csv").split(b"\n")
        text[99] = text[99].replace(b",", b";", 1)
        buffer = BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("BTCUSDT-1m-2020-02.csv", b"\n".join(text))
        archive._files[path] = buffer.getvalue()  # published with its own (right) checksum
        with pytest.raises(InputError) as err:
            import_archive_mode.run(config_for(server, archive), "binance", "BTC-USDT",
                                    "2020-01-01", "2020-04-01", now=APR + DAY)
        jan = server.candles("BTCUSDT", T0, T0 + 31 * DAY)
    assert str(err.value) == (
        "BTCUSDT-1m-2020-02.zip:BTCUSDT-1m-2020-02.csv line 100: expected 12 columns (Binance "
        "kline), found 11; nothing stored from it (1 file imported before it is kept)"
    )
    np.testing.assert_array_equal(stored(), jan)


def test_an_archive_that_keeps_failing_is_one_error(sqlite_db):
    with FakeBinance([spot()]) as server:
        config = parse_config({"exchanges": {"binance": {
            "api_url": server.url, "archive_url": "http://127.0.0.1:9", "retry_delay": 0.01,
            "max_retries": 1}}}, env={})
        with pytest.raises(ExchangeError) as err:
            import_archive_mode.run(config, "binance", "BTC-USDT", "2020-01-01", "2020-02-01",
                                    now=APR)
    assert str(err.value) == (
        "binance archive: downloading BTCUSDT-1m-2020-01.zip failed: connection refused; "
        "0 files imported before it are kept, run the same command again to resume"
    )
    assert candles.coverage() == []


def test_cli_mark_and_funding_from_the_archive_in_one_command(tmp_path):
    with FakeBinance([], [contract()]) as server, FakeArchive(server) as archive:
        write_project(tmp_path, {"binance-futures": server}, retry_delay=0.01)
        with open(tmp_path / "config.toml", "a") as f:
            f.write(f'archive_url = "{archive.url}"\n')
        result = CliRunner().invoke(app, [
            "--project", str(tmp_path), "import-candles", "binance-futures", "BTC-USDT",
            "2020-01-01", "--end", "2020-02-01", "--source", "archive", "--mark", "--funding"])
        assert result.exit_code == 0, result.output
        assert archive.downloads() == ["BTCUSDT-1m-2020-01.zip",
                                       "BTCUSDT-fundingRate-2020-01.zip"]
        assert server.requests == []  # everything was archived: no REST request
        mark = server.mark_candles("BTCUSDT", T0, T0 + 31 * DAY)
        events = server.funding("BTCUSDT", T0, T0 + 31 * DAY)
    assert "binance-futures BTC-USDT 1m mark price from the archive" in result.output
    assert "binance-futures BTC-USDT funding rates from the archive" in result.output
    open_database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        np.testing.assert_array_equal(funding.load_mark_candles("binance-futures", "BTC-USDT"),
                                      mark)
        stored_events = funding.load_funding("binance-futures", "BTC-USDT")
        np.testing.assert_array_equal(stored_events[:, funding.RATE], events[:, 1])
        assert candles.coverage()[0].exchange == "binance-futures:mark"
    finally:
        close_database()


def test_ctrl_c_reaches_a_wait_for_retry_after(sqlite_db):
    # the archive answers 503 with Retry-After: 3600; asking the import to stop ends the wait
    with FakeBinance([spot()]) as server, FakeArchive(server) as archive:
        archive.fail_status, archive.retry_after_s = 503, 3600
        asked = threading.Event()
        archive.on_request = lambda name: asked.set()
        out: list = []
        worker = threading.Thread(target=lambda: out.append(import_archive_mode.run(
            config_for(server, archive), "binance", "BTC-USDT", "2020-01-01", "2020-02-01",
            now=APR, should_stop=asked.is_set)))
        worker.start()
        worker.join(timeout=30)
        assert not worker.is_alive()
        # the download thread's own wait ends too (it does not sleep out the hour)
        from jbt.errors import Cancelled
        from jbt.modes.import_archive_mode import _Downloader

        got: list = []

        def download() -> None:
            try:
                _Downloader(config_for(server, archive).exchange("binance"), "binance archive",
                            asked.is_set).get(archive.url + "/data/x.zip", "x.zip")
            except Cancelled as exc:
                got.append(exc)

        asked.clear()
        thread = threading.Thread(target=download)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive()
        assert [str(e) for e in got] == ["binance archive: stopped while waiting to download "
                                         "again"]
    (summary,) = out
    assert summary.interrupted and summary.downloaded == 0 and summary.rest == []
    assert candles.coverage() == []


def test_files_download_at_once_and_one_without_a_checksum_is_refused(sqlite_db):
    with FakeBinance([spot()]) as server, FakeArchive(
            server, latency_s=0.5, no_checksum={"BTCUSDT-1m-2020-04.zip"}) as archive:
        with pytest.raises(ExchangeError) as err:
            import_archive_mode.run(config_for(server, archive), "binance", "BTC-USDT",
                                    "2020-01-01", "2020-05-01", now=APR + 40 * DAY)
        zips = [r for r in archive.requests if r.path.endswith(".zip")]
    # four files asked for before the first answer came back (each takes half a second)
    assert len({r.path for r in zips if r.time < zips[0].time + 0.5}) == 4
    assert str(err.value) == (
        "binance archive: BTCUSDT-1m-2020-04.zip has no published SHA-256 checksum "
        "(BTCUSDT-1m-2020-04.zip.CHECKSUM); refused, nothing stored from it (3 files imported "
        "before it are kept; run again to resume)"
    )
    assert archive_files() == [f"BTCUSDT-1m-2020-0{m}.zip" for m in (1, 2, 3)]
