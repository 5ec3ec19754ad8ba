"""Database failures named as such, read through the chain of causes (a rollback that fails
after SQLite gave up on a full disk hides the real error), and only database errors."""

from __future__ import annotations

import sqlite3

import peewee as pw
import pytest

from jbt.dberrors import database_error_message


def chained(first: BaseException, then: BaseException) -> BaseException:
    try:
        try:
            raise first
        except BaseException:
            raise then  # noqa: B904 - the implicit chain is what peewee produces
    except BaseException as exc:
        return exc


@pytest.fixture
def path(tmp_path):
    """The bound database, which the messages name."""
    from jbt.models import close_database, open_database

    file = tmp_path / "db.sqlite3"
    open_database(f"sqlite:///{file}")
    yield file
    close_database()


@pytest.mark.parametrize(("error", "starts"), [
    (sqlite3.OperationalError("database or disk is full"), "the disk holding {db} is full"),
    (chained(sqlite3.OperationalError("database or disk is full"),
             pw.OperationalError("cannot rollback - no transaction is active")),
     "the disk holding {db} is full"),
    (pw.OperationalError("attempt to write a readonly database"), "{db} is read-only"),
    (pw.OperationalError("database is locked"), "{db} is locked by another program"),
    (sqlite3.OperationalError("disk I/O error"), "the disk holding {db} failed to write"),
])
def test_database_failures_are_named(path, error, starts):
    assert database_error_message(error).startswith(starts.format(db=path))


def test_other_errors_are_not_database_failures():
    assert database_error_message(OSError(30, "Read-only file system")) is None
    assert database_error_message(pw.OperationalError("no such table: x")) is None
    assert database_error_message(ValueError("database is locked")) is None
