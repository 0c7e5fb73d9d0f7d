"""Set-based writes of the hot path: bulk_update, insert_rows and insert_rows_ignoring, on PostgreSQL and SQLite.

What they write is compared with rows written out by hand, and on PostgreSQL the number of
statements sent is counted (the point of both: a batch is one or a few round trips)."""
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.db import _array_column, array_literal, bulk_update, insert_rows, insert_rows_ignoring, normalise_url

metadata = sa.MetaData()
things = sa.Table(
    "things", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),  # a name SQL reserves in places: quoted
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("flag", sa.Boolean, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("units", sa.JSON, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
)
T0 = datetime(2026, 10, 1, 8, 30, tzinfo=timezone.utc)
START = [{"id": f"A{n}", "status": "received", "count": n, "score": None, "flag": None, "at": None,
          "units": [], "note": None} for n in range(5)]


def _engine(request):
    if request.param == "sqlite":
        engine = sa.create_engine("sqlite://")
    else:
        engine = sa.create_engine(normalise_url(request.getfixturevalue("database_url")))
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(things), START)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request):
    yield from _engine(request)


def _statements(engine) -> list[tuple[str, bool]]:
    sent: list[tuple[str, bool]] = []
    sa.event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many: sent.append((statement, many)))
    return sent


def _rows(engine) -> dict[str, dict]:
    with engine.connect() as connection:
        rows = {row.id: dict(row._mapping) for row in connection.execute(sa.select(things))}
    for row in rows.values():  # SQLite hands instants back without their zone; they are UTC
        if row["at"] is not None and row["at"].tzinfo is None:
            row["at"] = row["at"].replace(tzinfo=timezone.utc)
    return rows


def test_bulk_update_writes_each_row_its_own_values_and_leaves_the_others(engine):
    changes = [
        {"id": "A1", "status": "dispatched", "count": 7, "score": 1.5, "flag": True, "at": T0,
         "units": ["U01", "U02"], "note": "引号 ' 与 \" 与 {花括号,逗号}"},
        {"id": "A3", "status": "closed", "count": 0, "score": None, "flag": False, "at": T0 + timedelta(hours=1),
         "units": {"lead": "U03"}, "note": None},
    ]
    sent = _statements(engine)
    with engine.begin() as connection:
        bulk_update(connection, things, "id", changes)
    sent = list(sent)
    rows = _rows(engine)
    assert rows["A1"] == changes[0]
    assert rows["A3"] == changes[1]
    for untouched in ("A0", "A2", "A4"):
        assert rows[untouched] == START[int(untouched[1])]
    if engine.dialect.name == "postgresql":
        assert len(sent) == 1 and not sent[0][1], sent  # one statement, not one per row


def test_bulk_update_of_some_columns_only_and_a_column_all_null(engine):
    with engine.begin() as connection:
        bulk_update(connection, things, "id", [{"id": "A0", "at": None, "note": "一"},
                                               {"id": "A4", "at": None, "note": "二"}])
        bulk_update(connection, things, "id", [{"id": "A2", "flag": None}])
    rows = _rows(engine)
    assert (rows["A0"]["note"], rows["A4"]["note"], rows["A0"]["status"], rows["A4"]["count"]) == ("一", "二",
                                                                                                 "received", 4)
    assert rows["A2"] == START[2]


def test_insert_rows_ignoring_counts_the_new_rows_and_keeps_the_old_ones(engine):
    sent = _statements(engine)
    new = [{"id": f"B{n}", "status": "received", "count": n} for n in range(250)]
    repeat = [{"id": "A1", "status": "changed?", "count": 99}, {"id": "B0", "status": "again", "count": 1},
              {"id": "C1", "status": "received", "count": 1}, {"id": "C1", "status": "twice", "count": 2}]
    with engine.begin() as connection:
        assert insert_rows_ignoring(connection, things, new) == 250
        assert insert_rows_ignoring(connection, things, repeat) == 1
        assert insert_rows_ignoring(connection, things, []) == 0
    sent = list(sent)
    rows = _rows(engine)
    assert len(rows) == 5 + 250 + 1
    assert rows["A1"]["status"] == "received" and rows["B0"]["status"] == "received"
    assert rows["C1"]["status"] == "received"  # the first of two in one call stands
    if engine.dialect.name == "postgresql":
        # one statement of arrays per call, not a statement per row sent by executemany
        assert len(sent) == 2 and all("unnest" in statement and not many for statement, many in sent), sent


defaults = sa.Table(
    "defaulted", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("urgent", sa.Boolean, nullable=False, default=False),
    sa.Column("payload", sa.JSON, nullable=True),
)


def test_insert_rows_writes_every_type_fills_scalar_defaults_and_returns_what_is_asked(engine):
    sent = _statements(engine)
    rows = [{"id": "D1", "status": "received", "count": 3, "score": 2.25, "flag": True, "at": T0,
             "units": ["U01", "U02"], "note": "引号 ' 与 \" 与 {花括号,逗号} 与 NULL"},
            {"id": "D2", "status": "closed", "count": 0, "score": None, "flag": None, "at": None,
             "units": {"lead": "U03"}, "note": None}]
    with engine.begin() as connection:
        returned = insert_rows(connection, things, rows, returning=(things.c.id, things.c.count))
        made = insert_rows(connection, defaults,
                           [{"name": "一", "payload": {"a": [1]}}, {"name": "二", "payload": None}],
                           returning=(defaults.c.id, defaults.c.name))
        assert insert_rows(connection, things, [{"id": "D3", "status": "x", "count": 1, "score": None, "flag": None,
                                                 "at": None, "units": None, "note": None}]) == []
        stored = [dict(row._mapping) for row in connection.execute(sa.select(defaults).order_by(defaults.c.id))]
    sent = list(sent)
    assert sorted(tuple(row) for row in returned) == [("D1", 3), ("D2", 0)]
    assert [row.name for row in made] == ["一", "二"] and len({row.id for row in made}) == 2
    got = _rows(engine)
    assert got["D1"] == rows[0] and got["D2"] == rows[1] and got["D3"]["status"] == "x"
    assert [(row["name"], row["attempts"], row["urgent"], row["payload"]) for row in stored] == [
        ("一", 0, False, {"a": [1]}), ("二", 0, False, None)]
    if engine.dialect.name == "postgresql":
        inserts = sent[:3]  # the fourth is the SELECT
        assert len(sent) == 4 and all("unnest" in statement and not many for statement, many in inserts), sent


def test_insert_rows_refuses_rows_with_different_columns(engine):
    with engine.begin() as connection, pytest.raises(ValueError, match="do not all have the columns"):
        insert_rows(connection, defaults, [{"name": "一"}, {"name": "二", "attempts": 3}])
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(defaults)).scalar_one() == 0


# ---------------------------------------------------------------- array literals
TYPES = {"varchar(64)": sa.String(64), "text": sa.Text(), "integer": sa.Integer(), "boolean": sa.Boolean(),
         "double precision": sa.Float(), "numeric": sa.Numeric(), "date": sa.Date(),
         "timestamptz": sa.DateTime(timezone=True), "timestamp": sa.DateTime()}
SHANGHAI = timezone(timedelta(hours=8))
SAMPLES = {
    "varchar(64)": ["", " ", "a b ", "NULL", "null", '"', "\\", "\\\\\"", "{,}", "引号 ' 与 \" 与 {花括号,逗号}",
                    "\t\n", None, 7, True, 2.5, date(2026, 12, 6)],
    "text": ["x" * 3000, "{}", "()", "'", "''", "\\N", None],
    "integer": [0, -1, 2**31 - 1, None],
    "boolean": [True, False, None],
    "double precision": [0.1, -2.5e-300, 1e300, 3.0, None, 7],
    "numeric": [Decimal("1.10"), Decimal("-0.000001"), Decimal("12345678901234567890.5"), None, 3],
    "date": [date(2026, 12, 6), date(1, 1, 1), None],
    "timestamptz": [T0, datetime(2026, 12, 6, 23, 30, 0, 123456, tzinfo=SHANGHAI), datetime(2026, 12, 6, 23, 30),
                    None, date(2026, 12, 6)],
    "timestamp": [datetime(2026, 12, 6, 23, 30, 0, 5), None, date(2026, 12, 6)],
}


@pytest.mark.integration
@pytest.mark.parametrize("sql_type", list(SAMPLES))
def test_an_array_literal_reads_as_psycopg2s_array_would(database_url, sql_type):
    """One text literal per column array (what insert_rows and bulk_update send) gives the server
    the same values as psycopg2's ARRAY[...] of typed values, in a session of another zone."""
    engine = sa.create_engine(normalise_url(database_url))
    column = sa.Column("c", TYPES[sql_type])
    process, times = _array_column(engine.dialect, column)
    query = sa.text(f"SELECT CAST(:v AS {sql_type}[])")

    def read(connection, value):
        try:
            with connection.begin_nested():
                return connection.execute(query, {"v": value}).scalar_one()
        except sa.exc.DataError:
            return "refused"

    with engine.connect() as connection:
        connection.execute(sa.text("SET TIME ZONE 'America/New_York'"))
        # the whole list (psycopg2's ARRAY of mixed Python types may be refused: then both are) and each value alone
        for values in [SAMPLES[sql_type]] + [[value] for value in SAMPLES[sql_type]]:
            sent = [value if process is None else process(value) for value in values]  # as _array_parameters
            literal = array_literal(sent, times)
            assert literal is not None
            assert read(connection, literal) == read(connection, sent), values
    engine.dispose()


@pytest.mark.integration
def test_any_text_survives_an_array_literal(database_url):
    engine = sa.create_engine(normalise_url(database_url))
    query = sa.text("SELECT CAST(:v AS text[])")

    # what a text column can hold: any character but NUL and the lone surrogates UTF-8 cannot encode
    text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))

    @settings(max_examples=100, deadline=None)
    @given(values=st.lists(st.one_of(st.none(), text), max_size=5))
    def survives(values):
        with engine.connect() as connection:
            assert connection.execute(query, {"v": array_literal(values)}).scalar_one() == values

    survives()
    engine.dispose()


def test_what_an_array_literal_does_not_write_goes_as_a_list():
    assert array_literal([T0], "naive") is None  # an aware time into a timestamp column
    assert array_literal([T0], None) is None  # a time into a column of another type
    assert array_literal([float("nan")]) is None and array_literal([float("inf")]) is None
    assert array_literal([b"bytes"]) is None and array_literal([["a"]]) is None and array_literal([{"a": 1}]) is None
    assert array_literal(["a", None, 1, False]) == '{"a",NULL,1,false}'
