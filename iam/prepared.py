"""Core statements compiled once per database and run straight on the driver.

SQLAlchemy works out a statement's cache key and builds its parameters
afresh on every ``execute``. For the journal's small writes (one step's
row, one audit record: a few a step, about twenty a run) that costs more
than the database's own work. A `Prepared` statement is compiled once per
dialect by SQLAlchemy itself, then sent with ``exec_driver_sql``: the same
SQL text, the same type conversions (the columns' own bind processors), in
the caller's transaction, at about half the cost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.types import TypeEngine

_Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: For a positional driver (SQLite's ``?``), the parameters in the order the SQL takes them.
    names: tuple[str, ...]
    positional: bool
    #: Values the statement carries itself (`.values(status="running")`, `attempts + 1`).
    fixed: Mapping[str, Any]
    processors: Mapping[str, _Processor]
    #: A query's columns: each one's name and what its type does to a value read.
    readers: tuple[tuple[str, _Processor], ...]


class Prepared:
    """One statement whose parameters are ``bindparam`` names (plus values it carries itself)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = tuple(compiled.positiontup or ())
        fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
        processors = {name: _into(bind.type, dialect) for name, bind in binds.items()}
        columns = getattr(self.statement, "selected_columns", ())
        readers = tuple((column.name, _out_of(column.type, dialect)) for column in columns)
        done = _Compiled(compiled.string, names, dialect.positional, fixed, processors, readers)
        self._compiled[dialect.name] = done
        return done

    def _params(self, compiled: _Compiled, given: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        unknown = given.keys() - compiled.processors.keys()
        if unknown:  # a typo would otherwise be dropped silently and write NULL
            raise TypeError(f"not parameters of this statement: {sorted(unknown)}")
        values = {**compiled.fixed, **given}
        processed = {}
        for name, processor in compiled.processors.items():
            value = values[name]
            processed[name] = processor(value) if processor is not None else value
        if compiled.positional:  # a name used twice is sent twice
            return tuple(processed[name] for name in compiled.names)
        return processed

    def run(self, db: Connection, params: Mapping[str, Any]) -> None:
        """Execute once in ``db``'s transaction."""
        compiled = self._compiled.get(db.dialect.name) or self._compile(db.dialect)
        db.exec_driver_sql(compiled.sql, self._params(compiled, params)).close()  # PostgreSQL: RETURNING id

    def run_many(self, db: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        """Execute for each of ``rows`` (the driver's executemany) in ``db``'s transaction."""
        compiled = self._compiled.get(db.dialect.name) or self._compile(db.dialect)
        params = [self._params(compiled, row) for row in rows]
        if params:
            db.exec_driver_sql(compiled.sql, params).close()

    def mappings(self, db: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A query's rows, each a dict by column name, its values as Core would return them."""
        compiled = self._compiled.get(db.dialect.name) or self._compile(db.dialect)
        rows = db.exec_driver_sql(compiled.sql, self._params(compiled, params)).all()
        return [
            {
                name: reader(value) if reader is not None else value
                for (name, reader), value in zip(compiled.readers, row, strict=True)
            }
            for row in rows
        ]


def _into(type_: TypeEngine[Any], dialect: Dialect) -> _Processor:
    """What a column's type does to a value on its way in (JSON to text, a time to UTC)."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _out_of(type_: TypeEngine[Any], dialect: Dialect) -> _Processor:
    """What a column's type does to a value read (text to JSON, a time made aware)."""
    return type_.dialect_impl(dialect).result_processor(dialect, None)
