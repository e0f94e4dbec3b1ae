"""What a unit of work has changed: the objects it loaded (as read) and the ones it added.

Objects are plain domain classes. What was read is kept as a snapshot of each object's mutable
columns; at a flush, an object that differs from its snapshot is written with one prebuilt UPDATE
(with the version check for a case), and added objects are inserted, a table at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Row

from persistence.orm import MAPPINGS, Mapping

Snapshot = tuple[Any, ...]
Params = dict[str, Any]


class StaleVersion(Exception):
    """A case's row no longer has the version this transaction read: another writer won."""

    def __init__(self, case_id: int | None) -> None:
        super().__init__(f"case {case_id} changed since it was read")
        self.case_id = case_id


class Changes:
    """The identity map and pending writes of one transaction on `connection`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.loaded: dict[tuple[type[Any], int], tuple[Any, Snapshot]] = {}
        self.new: list[Any] = []

    def load(self, mapping: Mapping, row: Row[Any]) -> Any:
        """The object for a row; the one already loaded, as changed so far, if there is one."""
        key = (mapping.cls, row.id)
        known = self.loaded.get(key)
        if known is not None:
            return known[0]
        obj = mapping.load(row)
        if mapping.mutable:
            self.loaded[key] = (obj, _snapshot(obj, mapping))
        return obj

    def insert_now(self, obj: Any) -> None:
        """Insert at once, setting the object's id (a case's first event needs it)."""
        mapping = MAPPINGS[type(obj)]
        key = self.connection.execute(mapping.insert, mapping.values(obj)).inserted_primary_key
        assert key is not None
        obj.id = key[0]
        if mapping.mutable:
            self.loaded[(mapping.cls, obj.id)] = (obj, _snapshot(obj, mapping))

    def add(self, obj: Any) -> None:
        """Insert at the next flush."""
        self.new.append(obj)

    def flush(self, only: type[Any] | None = None) -> None:
        """Write what changed since the last flush (of one class only, if `only` is given).

        What a statement wrote is marked written only once the statement succeeded, so a flush
        that fails leaves the rest pending, to fail again at commit rather than be lost.

        Raises:
            StaleVersion: a changed case was changed by another writer since it was read.
        """
        updates: dict[tuple[Mapping, tuple[str, ...]], list[tuple[Any, Snapshot, Params]]] = {}
        for key, (obj, snapshot) in self.loaded.items():
            if only is not None and key[0] is not only:
                continue
            mapping = MAPPINGS[key[0]]
            now = _snapshot(obj, mapping)
            if now != snapshot:
                params = _changed(mapping, obj, snapshot, now)
                updates.setdefault((mapping, tuple(params)), []).append((obj, now, params))
        for (mapping, _), changed in updates.items():
            self._update(mapping, [params for _, _, params in changed])
            for obj, now, _ in changed:
                self.loaded[(mapping.cls, obj.id)] = (obj, now)
        by_class: dict[type[Any], list[Any]] = {}
        for obj in self.new:
            if only is None or type(obj) is only:
                by_class.setdefault(type(obj), []).append(obj)
        for cls, objects in by_class.items():
            self._insert(MAPPINGS[cls], objects)
            inserted = set(map(id, objects))
            self.new = [o for o in self.new if id(o) not in inserted]

    def written(self, obj: Any) -> None:
        """The object, tracked by this transaction, now matches its row (a bulk statement changed
        both)."""
        mapping = MAPPINGS[type(obj)]
        known = self.loaded.get((mapping.cls, obj.id))
        if known is not None and known[0] is obj:
            self.loaded[(mapping.cls, obj.id)] = (obj, _snapshot(obj, mapping))

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Changes inside are written, or, on an error, undone in the database and in memory."""
        self.flush()
        before = dict(self.loaded)
        nested = self.connection.begin_nested()
        try:
            yield
            self.flush()
        except BaseException:
            nested.rollback()
            self.new = []
            self.loaded = before
            for obj, snapshot in before.values():
                _restore(obj, MAPPINGS[type(obj)], snapshot)
            raise
        nested.commit()

    def _update(self, mapping: Mapping, rows: list[dict[str, Any]]) -> None:
        """Rows that changed the same columns, in one executemany (a sweep's batch of cases)."""
        assert mapping.update is not None
        result = self.connection.execute(mapping.update, rows)
        # Each row's WHERE names its primary key, so all matched only if the count adds up.
        if mapping.version and result.rowcount != len(rows):
            raise StaleVersion(rows[0]["_id"] if len(rows) == 1 else None)

    def _insert(self, mapping: Mapping, objects: list[Any]) -> None:
        rows = [mapping.values(obj) for obj in objects]
        if not mapping.track_inserts:
            self.connection.execute(mapping.insert, rows)
            return
        # They get their ids back, in the order given, and join the identity map like loaded
        # objects, so that a later change in the same transaction is written too.
        returning = mapping.insert.returning(mapping.table.c.id, sort_by_parameter_order=True)
        ids = self.connection.execute(returning, rows).scalars().all()
        for obj, obj_id in zip(objects, ids, strict=True):
            obj.id = obj_id
            self.loaded[(mapping.cls, obj_id)] = (obj, _snapshot(obj, mapping))


def _changed(mapping: Mapping, obj: Any, snapshot: Snapshot, now: Snapshot) -> dict[str, Any]:
    """The UPDATE's parameters: only the columns that changed, so SQLite rewrites no index entry
    of an unchanged column (the statement is compiled once per set of columns)."""
    params = {
        name: value
        for name, value, was in zip(mapping.mutable, now, snapshot, strict=True)
        if value != was
    }
    params["_id"] = obj.id
    if mapping.version:
        params["_version"] = snapshot[mapping.mutable.index(mapping.version)]
    return params


def _snapshot(obj: Any, mapping: Mapping) -> Snapshot:
    # JSON columns hold dicts the workflow may change in place: keep a copy of what was read.
    return tuple(
        value.copy() if isinstance(value, dict) else value
        for value in (getattr(obj, name) for name in mapping.mutable)
    )


def _restore(obj: Any, mapping: Mapping, snapshot: Snapshot) -> None:
    for name, value in zip(mapping.mutable, snapshot, strict=True):
        setattr(obj, name, value.copy() if isinstance(value, dict) else value)
