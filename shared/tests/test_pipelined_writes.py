"""shared.db.pipelined_writes: the unit of work's writes go in front of its next statement.

Each test counts what psycopg2 sent (``after_cursor_execute``: one call, one round trip) and
reads back what was written, on PostgreSQL; on SQLite the block changes nothing."""
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.db import bulk_update, insert_rows, make_engine, pipelined_writes

metadata = sa.MetaData()
notes = sa.Table(
    "pipelined_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("units", sa.JSON, nullable=True),
)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _sent(engine) -> list[str]:
    sent: list[str] = []
    sa.event.listen(engine, "after_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: sent.append(cursor.query.decode()))
    return sent


def _all(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.select(notes).order_by(notes.c.id))]


@pytest.mark.integration
def test_writes_go_with_the_next_statement_which_sees_them(engine):
    sent = _sent(engine)
    with engine.connect() as connection, connection.begin(), pipelined_writes(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": ["x"]}, {"id": 2, "text": None, "units": None}])
        bulk_update(connection, notes, "id", [{"id": 2, "text": "b"}])
        assert sent == []  # nothing sent yet
        seen = connection.execute(sa.select(notes.c.id, notes.c.text).order_by(notes.c.id)).fetchall()
        assert [tuple(row) for row in seen] == [(1, "a"), (2, "b")]
        assert len(sent) == 1 and sent[0].startswith("INSERT INTO pipelined_notes") and "UPDATE" in sent[0]
        insert_rows(connection, notes, [{"id": 3, "text": "c", "units": {"k": 1}}])
    assert len(sent) == 2 and sent[1].startswith("INSERT")  # the last write went alone, before the commit
    assert _all(engine) == [(1, "a", ["x"]), (2, "b", None), (3, "c", {"k": 1})]


@pytest.mark.integration
def test_a_write_whose_rows_are_wanted_goes_at_once(engine):
    sent = _sent(engine)
    with engine.connect() as connection, connection.begin(), pipelined_writes(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        found = insert_rows(connection, notes, [{"id": 2, "text": "b", "units": None}], returning=(notes.c.id,))
        assert [row.id for row in found] == [2]
        assert len(sent) == 1  # the first write went with it
    assert [row[0] for row in _all(engine)] == [1, 2]


@pytest.mark.integration
def test_outside_the_block_each_write_is_sent_at_once(engine):
    sent = _sent(engine)
    with engine.begin() as connection:
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        assert len(sent) == 1
        bulk_update(connection, notes, "id", [{"id": 1, "text": "b"}])
        assert len(sent) == 2
    assert _all(engine) == [(1, "b", None)]


@pytest.mark.integration
def test_a_failing_write_fails_the_statement_it_went_with_and_nothing_is_kept(engine):
    with engine.begin() as connection:
        insert_rows(connection, notes, [{"id": 1, "text": "first", "units": None}])
    with (pytest.raises(sa.exc.IntegrityError) as failure, engine.connect() as connection, connection.begin(),
          pipelined_writes(connection)):
        insert_rows(connection, notes, [{"id": 2, "text": "second", "units": None}])
        insert_rows(connection, notes, [{"id": 1, "text": "again", "units": None}])  # the key is taken
        connection.execute(sa.select(notes.c.id)).fetchall()
    assert "pipelined_notes_pkey" in str(failure.value)
    assert _all(engine) == [(1, "first", None)]
    # with nothing after it, at the end of the block
    with (pytest.raises(sa.exc.IntegrityError), engine.connect() as connection, connection.begin(),
          pipelined_writes(connection)):
        insert_rows(connection, notes, [{"id": 1, "text": "again", "units": None}])
    assert _all(engine) == [(1, "first", None)]
    with engine.connect() as connection:  # the connection went back to the pool clean
        assert connection.execute(sa.select(sa.func.count()).select_from(notes)).scalar_one() == 1


@pytest.mark.integration
def test_a_statement_with_several_parameter_sets_comes_after_the_writes(engine):
    with engine.connect() as connection, connection.begin(), pipelined_writes(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        connection.execute(sa.update(notes).where(notes.c.id == sa.bindparam("key")).values(text=sa.bindparam("t")),
                           [{"key": 1, "t": "b"}, {"key": 2, "t": "none"}])
    assert _all(engine) == [(1, "b", None)]


@pytest.mark.integration
def test_any_text_goes_through_as_written(engine):
    """Percent signs, quotes, backslashes and placeholders' look-alikes in the values: the writes
    are written out by psycopg2 (mogrify) before they go in front of a statement with parameters."""
    text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
    tricky = st.sampled_from(["%", "%s", "%(c0)s", "%%", "'", "\\", '"', ";", "{", "}", ",", "NULL"])

    @settings(max_examples=60, deadline=None)
    @given(values=st.lists(st.one_of(st.none(), text, tricky), min_size=1, max_size=4))
    def survives(values):
        with engine.begin() as connection:
            connection.execute(notes.delete())
        with engine.connect() as connection, connection.begin(), pipelined_writes(connection):
            insert_rows(connection, notes, [{"id": i, "text": v, "units": [v]} for i, v in enumerate(values)])
            bulk_update(connection, notes, "id", [{"id": 0, "text": values[-1]}])
            bare = connection.execute(sa.text("SELECT '%(c0)s %s 100%' FROM pipelined_notes WHERE id = 0")).scalar_one()
            bound = connection.execute(sa.text("SELECT '100%' || :v FROM pipelined_notes WHERE id = 0"),
                                       {"v": "%s"}).scalar_one()
        assert (bare, bound) == ("%(c0)s %s 100%", "100%%s")
        assert _all(engine) == [(0, values[-1], [values[0]])] + [(i, v, [v]) for i, v in enumerate(values)][1:]

    survives()


def test_on_sqlite_the_block_sends_each_write_at_once(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'notes.sqlite'}")
    metadata.create_all(engine)
    sent = _sent_sqlite(engine)
    with engine.connect() as connection, connection.begin(), pipelined_writes(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        assert len(sent) == 1
    assert _all(engine) == [(1, "a", None)]
    engine.dispose()


def _sent_sqlite(engine) -> list[str]:
    sent: list[str] = []
    sa.event.listen(engine, "after_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: sent.append(statement))
    return sent
