"""Database failures the user can act on, named as such: a full disk, a read-only or locked
database, a file that cannot be opened.

SQLite reports a full disk as ``database or disk is full``; peewee's rollback afterwards can
replace it with ``cannot rollback - no transaction is active``, so the whole chain of causes is
read, not only the last error.
"""

from __future__ import annotations

#: Where database errors come from: the drivers and peewee, which wraps them.
_DRIVERS = {"sqlite3", "peewee", "psycopg2"}

#: (text in SQLite's message or PostgreSQL's SQLSTATE, what it means, what to do).
_KNOWN = (
    (("database or disk is full", "53100"), "the disk holding {db} is full",
     "free some space and run the command again; what was saved before is kept"),
    (("readonly database", "read-only", "25006"), "{db} is read-only",
     "check the permissions of the file and its folder, or set another database.url"),
    (("database is locked", "55p03"), "{db} is locked by another program",
     "wait for it to finish, or close it, and run the command again"),
    (("disk i/o error",), "the disk holding {db} failed to write (disk I/O error)",
     "check that the disk is not full or failing, then run the command again"),
    (("unable to open database file",), "cannot open {db}",
     "check that its folder exists and is writable"),
)


def database_label() -> str:
    """The bound database as the user knows it: the SQLite file, or the server's database."""
    from jbt.models import database_proxy

    db = database_proxy.obj
    if db is None:
        return "the database"
    name = str(getattr(db, "database", "") or "")
    if name and name != ":memory:" and db.__class__.__name__.startswith("Sqlite"):
        return name
    return f"the database {name}" if name else "the database"


def database_error_message(exc: BaseException) -> str | None:
    """One line naming what went wrong with the database and what to do; ``None`` when
    ``exc`` is not a database failure we recognise."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if type(cause).__module__.split(".")[0] in _DRIVERS:  # not, say, a read-only --json path
            text = f"{cause} {getattr(cause, 'pgcode', '') or ''}".lower()
            for needles, what, todo in _KNOWN:
                if any(n in text for n in needles):
                    return f"{what.format(db=database_label())}: {todo}"
        cause = cause.__cause__ or cause.__context__
    return None
