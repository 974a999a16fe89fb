"""The session's row factory: rows as the driver makes them, one row class per column list."""

from __future__ import annotations

from cassandra.query import named_tuple_factory

from services.platform.cql import row_factory

COLUMNS = ["[applied]", "tweet_id", "ref"]
VALUES = [(True, 7, "a"), (False, 8, "b")]


def test_rows_read_as_the_drivers_named_tuples() -> None:
    rows = row_factory(COLUMNS, VALUES)
    assert rows == named_tuple_factory(COLUMNS, VALUES)
    assert [(row.applied, row.tweet_id, row.ref) for row in rows] == VALUES
    assert rows[0]._fields == named_tuple_factory(COLUMNS, VALUES)[0]._fields


def test_one_row_class_serves_every_result_with_the_same_columns() -> None:
    first, again = row_factory(COLUMNS, VALUES[:1]), row_factory(list(COLUMNS), VALUES[1:])
    assert type(first[0]) is type(again[0])
    assert type(row_factory(["tweet_id"], [(1,)])[0]) is not type(first[0])
