"""Shared fixtures: a fresh database for each test.

``db`` runs a test twice: on a SQLite file in ``tmp_path`` and on PostgreSQL. The PostgreSQL run
needs ``JBT_TEST_POSTGRES_URL`` (``postgresql://user@host:port/db``, a role allowed to create
databases; ``.ci/run`` starts a server and sets it) and is skipped without it. The session gets
its own database on that server, dropped at the end; tables are dropped after each test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import peewee as pw
import pytest

POSTGRES_URL_ENV = "JBT_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a database created for this test session on the configured PostgreSQL server."""
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_ENV}=postgresql://... (.ci/run sets it)")
    import psycopg2

    name = f"jbt_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunparse(urlparse(base)._replace(path=f"/{name}"))
    finally:
        from jbt.models import close_database

        close_database()
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A database URL: a new SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db(db_url: str) -> Iterator[pw.Database]:
    """The models bound to an empty database (what ``open_database`` gives a command)."""
    from jbt.models import MODELS, open_database

    database = open_database(db_url)
    yield database
    if isinstance(database, pw.PostgresqlDatabase):
        if database.in_transaction():
            database.rollback()
        database.drop_tables(MODELS, safe=True, cascade=True)
    database.close()
