"""A full disk and a read-only database are named as such (issue 16, finding 9), and a finished
backtest that cannot be saved is still printed and exported.

Both are real: jbt runs in a private mount namespace (``unshare``) where its project lives on a
small tmpfs that fills up, or where the database file is bind-mounted read-only. Nothing is
mounted outside that namespace, and it goes away with the process."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_project import END, START, make_project
from fakes.binance import FakeBinance, FakeMarket, write_project

MIN = 60_000
T0 = 1_577_836_800_000  # 2020-01-01


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(),
                                reason="needs unshare with mount namespaces")


def in_namespace(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``sh -c script`` in a new user and mount namespace; ``$@`` is ``args``."""
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *args],
                          capture_output=True, text=True, timeout=120)


def jbt(*args: str) -> list[str]:
    return [sys.executable, "-m", "jbt", *args]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored(project: Path) -> np.ndarray:
    con = sqlite3.connect(project / "db.sqlite3")
    try:
        return np.array(con.execute('SELECT "timestamp" FROM "candle" ORDER BY 1').fetchall(),
                        dtype=np.int64).ravel()
    finally:
        con.close()


def test_a_full_disk_during_an_import_is_named_and_a_rerun_resumes(tmp_path):
    market = FakeMarket("BTC", "USDT", T0, T0 + 14 * 1440 * MIN, seed=9)
    with FakeBinance([market]) as server:
        src, mnt, out = tmp_path / "src", tmp_path / "mnt", tmp_path / "out"
        write_project(src, {"binance": server}, retry_delay=0.01)
        mnt.mkdir()
        out.mkdir()
        # 700 KB holds a few pages of candles, not the 20,160 minutes asked for
        script = ('mount -t tmpfs -o size=700k tmpfs "$1" && cp -a "$2"/. "$1"/ && shift 3 && '
                  '"$@"; rc=$?; cp -a "$MNT"/. "$OUT"/; exit $rc')
        full = subprocess.run(
            ["unshare", "-rm", "sh", "-c", script, "sh", str(mnt), str(src), "x",
             *jbt("--project", str(mnt), "import-candles", "binance", "BTC-USDT", "2020-01-01",
                  "--end", "2020-01-15")],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "MNT": str(mnt), "OUT": str(out)},
        )
        assert full.returncode == 1, full.stderr
        errors = [line for line in full.stderr.splitlines() if line.startswith("Error")]
        assert errors == [
            f"Error: the disk holding {mnt / 'db.sqlite3'} is full: free some space and run the "
            "command again; what was saved before is kept"], full.stderr
        # what was committed is whole: every stored minute is the exchange's, none half-written
        con = sqlite3.connect(out / "db.sqlite3")
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
        kept = stored(out)
        assert 0 < len(kept) < 14 * 1440
        assert np.isin(kept, server.candles("BTCUSDT")[:, 0].astype(np.int64)).all()
        # with room again, the same command finishes the import exactly
        again = subprocess.run(
            jbt("--project", str(out), "import-candles", "binance", "BTC-USDT", "2020-01-01",
                "--end", "2020-01-15"), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert np.array_equal(stored(out), server.candles("BTCUSDT")[:, 0].astype(np.int64))


def test_a_read_only_database_still_prints_and_exports_the_result(tmp_path):
    project = make_project(tmp_path / "project")
    db = project / "db.sqlite3"
    before = sha(db)
    out = project / "run.json"
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    ran = in_namespace(script, str(db),
                       *jbt("--project", str(project), "backtest", START, END, "--json", str(out)))
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.splitlines() == [
        f"Error: not saved: {db} is read-only: check the permissions of the file and its folder, "
        "or set another database.url"]
    assert "Total trades" in ran.stdout and "Sharpe" in ran.stdout  # the report was printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["session_id"] is None
    assert data["save_error"].startswith(f"{db} is read-only")
    assert data["trades"] and data["metrics"]["total_trades"] == len(data["trades"])
    assert sha(db) == before  # and nothing in the database changed


def test_a_full_disk_during_an_api_import_is_named_in_the_job(tmp_path):
    """``jbt serve`` with its project on a small filesystem: the import job fails with the
    same words as the CLI, not a driver's ``OperationalError: ...``."""
    import socket
    import time

    import httpx

    market = FakeMarket("BTC", "USDT", T0, T0 + 14 * 1440 * MIN, seed=9)
    with FakeBinance([market]) as server:
        src, mnt = tmp_path / "src", tmp_path / "mnt"
        write_project(src, {"binance": server}, retry_delay=0.01)
        mnt.mkdir()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        script = 'mount -t tmpfs -o size=700k tmpfs "$1" && cp -a "$2"/. "$1"/ && shift 2 && exec "$@"'
        proc = subprocess.Popen(
            ["unshare", "-rm", "sh", "-c", script, "sh", str(mnt), str(src),
             *jbt("--project", str(mnt), "serve", "--port", str(port))],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert proc.poll() is None, proc.communicate()[1]
                try:
                    httpx.get(f"{base}/jobs", timeout=1)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.05)
            r = httpx.post(f"{base}/candles/import", timeout=30, json={
                "exchange": "binance", "symbol": "BTC-USDT", "start": "2020-01-01",
                "end": "2020-01-15"})
            assert r.status_code == 202, r.text
            deadline = time.monotonic() + 60
            while (job := httpx.get(f"{base}/jobs/{r.json()['id']}", timeout=5).json())[
                    "status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    assert job["status"] == "failed", job
    assert job["error"] == (f"the disk holding {mnt / 'db.sqlite3'} is full: free some space and "
                            "run the command again; what was saved before is kept")


def test_a_full_disk_when_the_session_is_saved_still_prints_and_exports_the_result(tmp_path):
    """Finding 20's last point on a full disk: the report is printed and ``--json`` written,
    with one line saying why the session was not saved, and the database is as it was."""
    project = make_project(tmp_path / "project")
    mnt, after, out = tmp_path / "mnt", tmp_path / "after", tmp_path / "run.json"
    mnt.mkdir()
    after.mkdir()
    con = sqlite3.connect(project / "db.sqlite3")
    stored_before = con.execute('SELECT COUNT(*) FROM "candle"').fetchone()[0]
    con.close()
    # room for the project and SQLite's 32 KB shared-memory file, not for a session
    size_kb = sum(p.stat().st_size for p in project.rglob("*") if p.is_file()) // 1024 + 96
    script = (f'mount -t tmpfs -o size={size_kb}k tmpfs "$1" && cp -a "$2"/. "$1"/ && '
              'M="$1" A="$3" && shift 3 && "$@"; rc=$?; cp -a "$M"/db.sqlite3* "$A"/; exit $rc')
    ran = in_namespace(script, str(mnt), str(project), str(after),
                       *jbt("--project", str(mnt), "backtest", START, END, "--json", str(out)))
    assert ran.returncode == 1, ran.stderr
    assert ran.stderr.splitlines() == [
        f"Error: not saved: the disk holding {mnt / 'db.sqlite3'} is full: free some space and "
        "run the command again; what was saved before is kept"]
    assert "Total trades" in ran.stdout and "Sharpe" in ran.stdout  # the report was printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["session_id"] is None and data["save_error"].startswith("the disk holding")
    assert data["trades"] and data["metrics"]["total_trades"] == len(data["trades"])
    # the database on the full disk: whole, no session, every candle still there
    con = sqlite3.connect(after / "db.sqlite3")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute('SELECT COUNT(*) FROM "backtest_session"').fetchone() == (0,)
        assert con.execute('SELECT COUNT(*) FROM "candle"').fetchone() == (stored_before,)
    finally:
        con.close()
