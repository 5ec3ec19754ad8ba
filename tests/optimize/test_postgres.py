"""A study kept on PostgreSQL (``--storage postgresql://...``) while the candles stay in the
project's SQLite file: run, continue, show, list, backtest --from-study, delete."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from .kit import invoke, make_project, study_json, trial_rows


@pytest.mark.postgres
def test_a_study_on_postgresql(tmp_path, postgres_url):
    import optuna

    root = make_project(tmp_path)
    name = f"pg-{uuid.uuid4().hex[:8]}"
    args = ["optimize", "--trials", "12", "--batch", "6", "--seed", "9", "--study", name,
            "--storage", postgres_url]
    res = invoke(root, *args[:2], "6", *args[3:])
    assert res.exit_code == 0, res.output
    res = invoke(root, *args)
    assert res.exit_code == 0, res.output
    assert "6 trials stored; running up to 12" in res.output
    data = study_json(root, name, "--storage", postgres_url)
    assert [t["number"] for t in data["trials"]] == list(range(12))

    # the same study in a SQLite file, in one go
    other = make_project(tmp_path / "again")
    res = invoke(other, *args[:-2])
    assert res.exit_code == 0, res.output
    assert trial_rows(study_json(other, name)) == trial_rows(data)

    loaded = optuna.load_study(study_name=name,
                               storage=postgres_url.replace("postgresql://",
                                                            "postgresql+psycopg2://"))
    assert [t.params for t in loaded.trials] == [t["params"] for t in data["trials"]]

    res = invoke(root, "optimize", "list", "--storage", postgres_url)
    assert res.exit_code == 0 and name in res.output
    res = invoke(root, "backtest", "--from-study", name, "--storage", postgres_url, "--no-save")
    assert res.exit_code == 0, res.output
    assert f"Study {name}, trial {data['ranking'][0]} (rank 1)" in res.output
    tables = {r[0] for r in sqlite3.connect(root / "db.sqlite3").execute(
        "select name from sqlite_master where type = 'table'")}
    assert "studies" not in tables  # the project's file holds only the candles

    res = invoke(root, "optimize", "delete", name, "--yes", "--storage", postgres_url)
    assert res.exit_code == 0, res.output
    res = invoke(root, "optimize", "show", name, "--storage", postgres_url)
    assert res.exit_code == 2 and f"no study named '{name}'" in res.output
