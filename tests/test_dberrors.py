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


@pytest.mark.parametrize(("error", "starts"), [
    (sqlite3.OperationalError("database or disk is full"), "the disk holding the database is full"),
    (chained(sqlite3.OperationalError("database or disk is full"),
             pw.OperationalError("cannot rollback - no transaction is active")),
     "the disk holding the database is full"),
    (pw.OperationalError("attempt to write a readonly database"), "the database is read-only"),
    (pw.OperationalError("database is locked"), "the database is locked by another program"),
    (sqlite3.OperationalError("disk I/O error"), "the disk holding the database failed to write"),
])
def test_database_failures_are_named(error, starts):
    assert database_error_message(error).startswith(starts)


def test_other_errors_are_not_database_failures():
    assert database_error_message(OSError(30, "Read-only file system")) is None
    assert database_error_message(pw.OperationalError("no such table: x")) is None
    assert database_error_message(ValueError("database is locked")) is None
