"""The in-process job manager: states, cancellation, conflicts, failures, shutdown."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from jbt.api.jobs import JobConflict, JobManager
from jbt.errors import ExchangeError, JbtError


@dataclass
class Summary:
    inserted: int
    notes: list[str]


def test_a_job_reports_progress_counts_and_its_result():
    jobs = JobManager()
    gate = threading.Event()
    seen = threading.Event()

    def work(report, should_stop):
        report({"done": 1, "total": 2}, {"inserted": 10})
        seen.set()
        gate.wait(5)
        report({"done": 2, "total": 2})
        return Summary(inserted=20, notes=["ok"])

    job = jobs.submit("import", {"symbol": "BTC-USDT"}, work, key="a")
    assert job["status"] in ("queued", "running")
    assert seen.wait(5)
    running = jobs.get(job["id"])
    assert running["status"] == "running"
    assert running["progress"] == {"done": 1, "total": 2}
    assert running["counts"] == {"inserted": 10}
    gate.set()
    done = jobs.wait(job["id"], 5)
    assert done["status"] == "finished"
    assert done["progress"] == {"done": 2, "total": 2}
    assert done["counts"] == {"inserted": 10}  # counts unchanged by a report without them
    assert done["result"] == {"inserted": 20, "notes": ["ok"]}
    assert done["params"] == {"symbol": "BTC-USDT"}
    assert done["error"] is None
    jobs.shutdown()


def test_snapshots_are_copies():
    jobs = JobManager()
    job = jobs.submit("x", {"a": 1}, lambda report, stop: {"n": 1}, key="k")
    jobs.wait(job["id"], 5)
    snap = jobs.get(job["id"])
    snap["params"]["a"] = 2
    snap["result"]["n"] = 2
    assert jobs.get(job["id"])["params"] == {"a": 1}
    assert jobs.get(job["id"])["result"] == {"n": 1}
    jobs.shutdown()


@pytest.mark.parametrize(
    "exc, message",
    [
        (ExchangeError("binance: klines failed after 8 retries"), "binance: klines failed after 8 retries"),
        (ValueError("bad number"), "ValueError: bad number"),
    ],
)
def test_a_failing_job_is_failed_with_its_message(exc, message):
    jobs = JobManager()

    def work(report, should_stop):
        report(None, {"inserted": 3})
        raise exc

    job = jobs.submit("import", {}, work, key="k")
    done = jobs.wait(job["id"], 5)
    assert done["status"] == "failed"
    assert done["error"] == message
    assert done["counts"] == {"inserted": 3}
    assert done["result"] is None
    jobs.shutdown()


def test_same_key_conflicts_while_active_then_is_free_again():
    jobs = JobManager()
    gate = threading.Event()
    first = jobs.submit("import", {}, lambda r, s: gate.wait(5), key="binance:BTC-USDT")
    with pytest.raises(JobConflict, match=f"import job {first['id']} for binance:BTC-USDT is already"):
        jobs.submit("import", {}, lambda r, s: None, key="binance:BTC-USDT")
    other = jobs.submit("import", {}, lambda r, s: None, key="binance:ETH-USDT")
    assert jobs.wait(other["id"], 5)["status"] == "finished"
    gate.set()
    assert jobs.wait(first["id"], 5)["status"] == "finished"
    again = jobs.submit("import", {}, lambda r, s: None, key="binance:BTC-USDT")
    assert jobs.wait(again["id"], 5)["status"] == "finished"
    jobs.shutdown()


def test_cancel_running_and_queued_jobs():
    jobs = JobManager(max_workers=1)
    started = threading.Event()

    def polls(report, should_stop):
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        return {"interrupted": True}

    running = jobs.submit("import", {}, polls, key="a")
    assert started.wait(5)
    queued = jobs.submit("import", {}, lambda r, s: {"ran": True}, key="b")
    assert jobs.get(queued["id"])["status"] == "queued"

    cancelled = jobs.cancel(queued["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_requested"] is True
    assert jobs.cancel(running["id"])["cancel_requested"] is True
    done = jobs.wait(running["id"], 5)
    assert done["status"] == "cancelled"
    assert done["result"] == {"interrupted": True}
    assert jobs.get(queued["id"])["result"] is None  # never ran
    assert jobs.cancel("missing") is None
    jobs.shutdown()


def test_shutdown_stops_running_jobs_and_refuses_new_ones():
    jobs = JobManager()
    started = threading.Event()

    def polls(report, should_stop):
        started.set()
        while not should_stop():
            threading.Event().wait(0.01)
        return {"stopped": True}

    job = jobs.submit("import", {}, polls, key="a")
    assert started.wait(5)
    jobs.shutdown(wait=True)
    assert jobs.get(job["id"])["status"] == "cancelled"
    with pytest.raises(JbtError, match="shutting down"):
        jobs.submit("import", {}, polls, key="b")


def test_only_the_most_recent_finished_jobs_are_kept():
    jobs = JobManager(keep=3)
    ids = []
    for i in range(5):
        job = jobs.submit("x", {"i": i}, lambda r, s: None, key=str(i))
        jobs.wait(job["id"], 5)
        ids.append(job["id"])
    assert [j["id"] for j in jobs.list()] == ids[:1:-1]  # newest first
    assert jobs.get(ids[0]) is None
    assert jobs.get(ids[1]) is None
    jobs.shutdown()
