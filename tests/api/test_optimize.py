"""Optimisation jobs over HTTP, on real uvicorn: ``POST /optimize`` checks the options as
``jbt optimize`` does and runs the study in the background; ``GET /jobs/ID`` shows its progress;
``DELETE /jobs/ID`` stops it with the stored batches kept, and the same request continues it to
exactly N trials; ``GET /studies/NAME`` is ``jbt optimize show NAME --json``. The same auth,
Host checks and bounds as backtests; a strategy cannot end the server; SIGTERM stops a running
optimisation within seconds."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest
from optimize.kit import EMA, invoke, make_project, study_json, trial_rows

from jbt.api import create_app
from jbt.config import load_config

from .conftest import free_port, uvicorn_server

#: The kit's EMA cross, 30 ms slower per backtest: a study whose progress can be watched.
SLOW = EMA.replace("class Ema(Strategy):", "class Slow(Strategy):").replace(
    "import jbt.indicators as ta", "import time\n\nimport jbt.indicators as ta"
) + textwrap.indent(textwrap.dedent('''
    def terminate(self):
        time.sleep(0.03)
'''), "    ")

#: Ends the process that sets the study up (the coordinator) while it reads the search space.
EXITS = textwrap.dedent('''
    import sys

    from jbt.strategies import Strategy


    class ExitsHp(Strategy):
        def hyperparameters(self):
            sys.exit(3)
''')
EXITS_LINE = next(i for i, line in enumerate(EXITS.splitlines(), 1) if "sys.exit" in line)

WORKER_DIED = ("a worker process died while running trials (killed, out of memory, or a "
               "strategy that ended the process); the trials saved so far are kept: run the same "
               "command to continue")


def route(strategy: str) -> dict[str, str]:
    return {"exchange": "sim", "symbol": "BTC-USDT", "timeframe": "1h", "strategy": strategy}


def project(root: Path) -> Path:
    """The optimisation kit's project (30 days of seeded 1m candles), routes.py on Slow."""
    make_project(root, route="Slow")
    for name, source in (("Slow", SLOW), ("ExitsHp", EXITS)):
        (root / "strategies" / name).mkdir()
        (root / "strategies" / name / "__init__.py").write_text(source, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """The candle cache of the server's optimisations, in this module's folder."""
    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("JBT_CACHE_DIR")
    os.environ["JBT_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        del os.environ["JBT_CACHE_DIR"]
    else:
        os.environ["JBT_CACHE_DIR"] = old


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """The server's project and an untouched copy for the command line's reference runs."""
    base = tmp_path_factory.mktemp("optimize-api")
    root = project(base / "api")
    reference = base / "cli"
    shutil.copytree(root, reference)
    return root, reference


@pytest.fixture(scope="module")
def reference(roots) -> dict:
    """The command line's study of the project's routes (seed 3, batches of 4, 16 trials), in
    the untouched copy: what the API's studies are held to."""
    _, copy = roots
    res = invoke(copy, "optimize", "--trials", "16", "--batch", "4", "--seed", "3",
                 "--jobs", "2", "--study", "ref")
    assert res.exit_code == 0, res.output
    return study_json(copy, "ref")


@pytest.fixture(scope="module")
def server(roots, cache_dir):
    root, _ = roots
    app = create_app(load_config(root, env={}), root, max_optimize_jobs=2)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        yield http


def watch(http: httpx.Client, job_id: str, timeout: float = 60.0) -> list[dict]:
    """Every distinct snapshot of a job until it ends (polled every 20 ms)."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        if not seen or job != seen[-1]:
            seen.append(job)
        if job["status"] not in ("queued", "running"):
            return seen
        assert time.monotonic() < deadline, f"job {job_id} did not end: {job}"
        time.sleep(0.02)


def wait_for(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def processes() -> dict[int, tuple[str, int, int, bytes]]:
    """Every process: pid -> (state, parent, process group, command line)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        state, parent, group = stat[stat.rindex(")") + 2:].split()[:3]
        out[int(entry.name)] = (state, int(parent), int(group), cmdline)
    return out


def coordinator(parent: int) -> int:
    """The pid of the optimisation coordinator ``parent`` started (its process group too)."""
    def find():
        return next((pid for pid, (state, ppid, _, cmd) in processes().items()
                     if ppid == parent and state != "Z" and b"jbt.api.optimizer" in cmd), None)

    return wait_for(find, what="the coordinator process")


def group(pgid: int) -> dict[int, bytes]:
    """The live processes of a process group."""
    return {pid: cmd for pid, (state, _, g, cmd) in processes().items()
            if g == pgid and state != "Z"}


def cli_error(root: Path, *args: str) -> str:
    res = invoke(root, "optimize", *args)
    assert res.exit_code != 0, res.output
    return res.output.strip().splitlines()[-1].removeprefix("Error: ")


# ------------------------------------------------------------------------------- the tests


def test_start_progress_and_results_equal_the_command_line(server, roots, reference):
    root, _ = roots
    r = server.post("/optimize", json={"trials": 12, "batch": 4, "seed": 3, "study": "s"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}"
    assert (job["kind"], job["status"]) == ("optimize", "running")
    assert job["params"]["study"] == "s" and job["params"]["jobs"] == 2  # the server's cap
    seen = watch(server, job["id"])

    final = seen[-1]
    assert final["status"] == "finished", final
    # progress while it ran: trials done out of 12, never going back
    done = [j["progress"]["done"] for j in seen if j["progress"].get("phase") == "running"]
    assert done == sorted(done) and done[-1] == 12
    assert any(0 < d < 12 for d in done), seen
    assert {j["progress"]["total"] for j in seen if "total" in j["progress"]} == {12}
    progress = final["progress"]
    assert progress["percent"] == 100.0 and progress["saved"] == 12 and progress["eta_s"] == 0
    assert progress["trials_per_s"] > 0

    data = server.get("/studies/s").json()
    # the document `jbt optimize show --json` writes, from the same database
    assert data == study_json(root, "s")
    best = data["trials"][data["ranking"][0]]
    summary = {k: best[k] for k in ("number", "params", "hp_args", "values", "test_values")}
    assert progress["best"] == summary
    assert final["result"] == {
        "study": "s", "trials": 12, "ran": 12, "replayed": 0, "continued": False,
        "stored_before": 0, "seconds": final["result"]["seconds"], "interrupted": False,
        "counts": data["counts"], "best": summary, "note": None, "url": "/studies/s",
    }
    assert final["counts"] == data["counts"]
    # the command line's study with the same seed: the same trials (its first 12: a study's
    # batches do not depend on how many follow) and settings
    assert trial_rows(data) == trial_rows(reference)[:12]
    assert ({**data["settings"], "name": "", "created_at": 0}
            == {**reference["settings"], "name": "", "created_at": 0})

    listed = [s for s in server.get("/studies").json() if s["study"] == "s"]
    assert listed == [{
        "study": "s", "created_at": data["settings"]["created_at"], "routes": [route("Slow")],
        "objectives": [{"name": "sharpe", "direction": "maximize"}], "sampler": "tpe",
        "seed": 3, "train": data["settings"]["train"], "test": data["settings"]["test"],
        "trials": 12, "feasible": data["counts"]["ok"], "best": best["values"][0], "job": None,
    }]


def test_cancel_keeps_the_stored_batches_and_the_same_request_continues_to_n(server, reference):
    body = {"routes": [route("Slow")], "trials": 16, "batch": 4, "seed": 3, "jobs": 1,
            "study": "c"}
    r = server.post("/optimize", json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    pgid = coordinator(os.getpid())
    assert len([c for c in group(pgid).values() if b"spawn_main" in c]) == 1  # --jobs 1
    wait_for(lambda: server.get(f"/jobs/{job_id}").json()["progress"].get("saved", 0) >= 4,
             what="a stored batch")
    r = server.delete(f"/jobs/{job_id}")
    assert r.status_code == 202 and r.json()["cancel_requested"] is True
    job = watch(server, job_id, timeout=15)[-1]
    stored = len(server.get("/studies/c").json()["trials"])
    assert (job["status"], job["error"]) == ("cancelled", f"cancelled (DELETE /jobs/{job_id})")
    assert job["result"]["interrupted"] is True and job["result"]["trials"] == stored
    assert 4 <= stored < 16 and stored % 4 == 0  # whole batches
    assert group(pgid) == {}  # the coordinator and its worker are gone

    r = server.post("/optimize", json=body)
    assert r.status_code == 202, r.text
    job = watch(server, r.json()["id"])[-1]
    assert job["status"] == "finished", job
    assert {k: job["result"][k] for k in ("trials", "ran", "replayed", "continued",
                                          "stored_before")} == {
        "trials": 16, "ran": 16 - stored, "replayed": stored, "continued": True,
        "stored_before": stored}
    data = server.get("/studies/c").json()
    assert [t["number"] for t in data["trials"]] == list(range(16))
    # exactly the uninterrupted study of the command line with the same seed
    assert trial_rows(data) == trial_rows(reference)
    assert data["ranking"] == reference["ranking"]


def test_bad_input_is_a_422_with_the_command_lines_message(server, roots):
    root, _ = roots
    r = server.post("/optimize", json={"trials": 4, "batch": 4, "seed": 1, "study": "m"})
    assert watch(server, r.json()["id"])[-1]["status"] == "finished"
    studies = server.get("/studies").json()

    cases = [  # the request, the same options on the command line
        ({"trials": 0}, ["--trials", "0"]),
        ({"sampler": "annealing"}, ["--sampler", "annealing"]),
        ({"space": ["fast=1:500"]}, ["--space", "fast=1:500"]),
        ({"start": "2019-01-01", "end": "2019-02-01"}, ["2019-01-01", "2019-02-01"]),
        ({"trials": 4, "batch": 4, "seed": 2, "study": "m"},
         ["--trials", "4", "--batch", "4", "--seed", "2", "--study", "m"]),
    ]
    for body, args in cases:
        r = server.post("/optimize", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"] == cli_error(root, *args), body
    # the ones the coordinator found are failed jobs with that message; nothing was written
    failed = [j for j in server.get("/jobs").json() if j["kind"] == "optimize"][:3]
    assert [j["status"] for j in failed] == ["failed"] * 3
    assert server.get("/studies").json() == studies
    assert len(server.get("/studies/m").json()["trials"]) == 4

    r = server.post("/optimize", json={"trails": 5})
    assert (r.status_code, r.json()["error"]) == (422, "ValidationError")
    assert server.get("/studies/nope").status_code == 404


def test_a_strategy_cannot_end_the_server(server, roots):
    r = server.post("/optimize", json={"routes": [route("ExitsHp")], "trials": 4})
    assert r.status_code == 422, r.text
    file = "strategies/ExitsHp/__init__.py"
    assert r.json() == {
        "detail": f"{file} line {EXITS_LINE}: SystemExit: the strategy called sys.exit(3); a "
                  "strategy cannot stop the run (return from the hook instead)",
        "error": "StrategyError", "strategy": "ExitsHp", "file": file, "line": EXITS_LINE,
    }
    # a trial that ends its worker process ends the optimisation, with its batches kept
    r = server.post("/optimize", json={"routes": [route("Crash")], "trials": 24, "batch": 2,
                                       "study": "crash"})
    assert r.status_code == 202, r.text
    job = watch(server, r.json()["id"])[-1]
    assert (job["status"], job["error"]) == ("failed", WORKER_DIED)
    trials = server.get("/studies/crash").json()["trials"]
    assert len(trials) % 2 == 0 and all(t["params"]["n"] != 3 for t in trials)
    assert server.get("/jobs").status_code == 200


def test_auth_and_host_checks_apply(roots, cache_dir):
    root, _ = roots
    token = "tok-51c0ffee"
    app = create_app(load_config(root, env={}), root, token=token)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        for method, path in (("POST", "/optimize"), ("GET", "/studies"),
                             ("GET", "/studies/s")):
            r = http.request(method, path, json={"trials": 4} if method == "POST" else None)
            assert (r.status_code, r.json()["error"]) == (401, "Unauthorized"), path
            assert r.headers["www-authenticate"] == "Bearer"
        auth = {"Authorization": f"Bearer {token}"}
        r = http.post("/optimize", json={"trials": 0}, headers={**auth, "Host": "evil.example"})
        assert (r.status_code, r.json()["error"]) == (400, "BadHost")
        r = http.post("/optimize", json={"trials": 0}, headers=auth)
        assert r.json() == {"detail": "--trials must be at least 1", "error": "InputError"}
        assert http.get("/studies", headers=auth).status_code == 200
        assert http.get("/jobs", headers=auth).json() == []  # nothing started


def test_one_optimisation_at_a_time_reads_go_on_and_stopping_the_server_cancels_it(
    roots, cache_dir
):
    root, _ = roots
    app = create_app(load_config(root, env={}), root, max_optimize_jobs=1)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        r = http.post("/optimize", json={"trials": 400, "jobs": 4, "study": "long"})
        assert r.status_code == 202, r.text
        job = r.json()
        assert (job["params"]["jobs"], job["params"]["jobs_requested"]) == (1, 4)
        pgid = coordinator(os.getpid())
        workers = [c for c in group(pgid).values() if b"spawn_main" in c]
        assert len(workers) == 1
        wait_for(lambda: http.get(f"/jobs/{job['id']}").json()["progress"].get("eta_s"),
                 what="an estimate")

        r = http.post("/optimize", json={"trials": 4, "study": "other"})
        assert r.status_code == 429, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert r.json() == {
            "detail": f"an optimisation is running (job {job['id']}, study long) and this "
                      f"server runs one at a time: try again in {r.headers['retry-after']} s "
                      f"(Retry-After), or stop it with DELETE /jobs/{job['id']}",
            "error": "TooManyRequests"}
        slowest = 0.0
        for path in ("/jobs", f"/jobs/{job['id']}", "/studies", "/studies/long", "/candles",
                     "/sessions"):
            began = time.monotonic()
            assert http.get(path).status_code == 200, path
            slowest = max(slowest, time.monotonic() - began)
        assert slowest < 2, slowest
        bt = http.post("/backtest", json={"routes": [route("Ema")], "save": False})
        assert bt.status_code == 200, bt.text
        listed = {s["study"]: s["job"] for s in http.get("/studies").json()}
        assert listed["long"] == job["id"]
        began = time.monotonic()
    # leaving the block stops the server as SIGTERM does
    assert time.monotonic() - began < 10
    ended = app.state.jbt.jobs.get(job["id"])
    assert (ended["status"], ended["error"]) == ("cancelled", "cancelled (the server is stopping)")
    assert ended["result"]["interrupted"] is True
    assert group(pgid) == {}


def test_an_optimisation_past_its_time_limit_stops_with_its_batches_kept(roots, cache_dir):
    root, _ = roots
    app = create_app(load_config(root, env={}), root, optimize_timeout=6)
    with uvicorn_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
        r = http.post("/optimize", json={"trials": 400, "batch": 4, "jobs": 1, "study": "t"})
        assert r.status_code == 202, r.text
        job = watch(http, r.json()["id"], timeout=20)[-1]
        stored = len(http.get("/studies/t").json()["trials"])
    assert (job["status"], job["error"]) == (
        "failed", "the optimisation ran longer than the time limit of 6 s ([server] "
                  "optimize_timeout in config.toml)")
    assert job["result"]["interrupted"] is True and job["result"]["trials"] == stored
    assert 0 < stored < 400 and stored % 4 == 0


def test_sigterm_stops_a_running_optimisation_within_seconds(tmp_path):
    root = project(tmp_path / "project")
    port = free_port()
    log = (tmp_path / "serve.log").open("w+")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JBT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jbt", "--project", str(root), "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            def up() -> bool:
                assert proc.poll() is None, Path(log.name).read_text()
                try:
                    return http.get("/jobs").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, what="jbt serve to start")
            r = http.post("/optimize", json={"trials": 400, "batch": 4, "jobs": 2,
                                             "study": "g"})
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            pgid = coordinator(proc.pid)
            wait_for(lambda: http.get(f"/jobs/{job_id}").json()["progress"].get("saved"),
                     what="a stored batch")
            members = group(pgid)
            assert len([c for c in members.values() if b"spawn_main" in c]) == 2
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        took = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = Path(log.name).read_text()
    assert took < 10, f"jbt serve took {took:.1f} s to stop\n{output}"
    assert group(pgid) == {}, output
    stored = len(study_json(root, "g")["trials"])
    assert stored >= 4 and stored % 4 == 0
    assert (f"optimize job {job_id} cancelled (the server is stopping); study g has {stored} "
            "trials stored") in output
