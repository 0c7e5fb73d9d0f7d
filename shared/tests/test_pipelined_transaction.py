"""shared.db.pipelined_transaction: BEGIN with the first statement, writes with the next, COMMIT with the last.

Each test counts what psycopg2 sent (``after_cursor_execute``: one call, one exchange; in the
block psycopg2 sends no BEGIN or COMMIT of its own) and reads back what was committed, on
PostgreSQL; on SQLite the block is ``connection.begin()``."""
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.db import bulk_update, insert_rows, make_engine, pipelined_transaction

metadata = sa.MetaData()
notes = sa.Table(
    "pipelined_notes", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("text", sa.Text, nullable=True),
    sa.Column("units", sa.JSON, nullable=True),
)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url, pool_size=1, max_overflow=0)  # what a block leaves, the next one gets
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _sent(engine) -> list[str]:
    sent: list[str] = []
    sa.event.listen(engine, "after_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: sent.append(cursor.query.decode()))
    return sent


def _verbs(exchange: str) -> list[str]:
    """The first word of each statement sent in one exchange."""
    return [line.split()[0] for line in exchange.split(";\n")]


def _all(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.select(notes).order_by(notes.c.id))]


def _clean(engine) -> None:
    """The pooled connection came back as a plain one: not in autocommit, no transaction open."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE

    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert not raw.autocommit and raw.get_transaction_status() == TRANSACTION_STATUS_IDLE


@pytest.mark.integration
def test_begin_writes_and_commit_go_with_the_statements(engine):
    sent = _sent(engine)
    with engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": ["x"]}, {"id": 2, "text": None, "units": None}])
        bulk_update(connection, notes, "id", [{"id": 2, "text": "b"}])
        assert sent == []  # nothing sent yet
        seen = connection.execute(sa.select(notes.c.id, notes.c.text).order_by(notes.c.id)).fetchall()
        assert [tuple(row) for row in seen] == [(1, "a"), (2, "b")]
        assert len(sent) == 1
        assert _verbs(sent[0]) == ["BEGIN", "INSERT", "UPDATE", "SELECT"]
        insert_rows(connection, notes, [{"id": 3, "text": "c", "units": {"k": 1}}])
        bulk_update(connection, notes, "id", [{"id": 3, "text": "C"}])
    assert len(sent) == 2 and _verbs(sent[1]) == ["INSERT", "UPDATE", "COMMIT"]
    assert _all(engine) == [(1, "a", ["x"]), (2, "b", None), (3, "C", {"k": 1})]
    _clean(engine)


@pytest.mark.integration
def test_only_writes_are_one_exchange_and_nothing_sends_nothing(engine):
    sent = _sent(engine)
    with engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
    assert _verbs(sent[0]) == ["BEGIN", "INSERT", "COMMIT"] and len(sent) == 1
    with engine.connect() as connection, pipelined_transaction(connection):
        pass
    assert len(sent) == 1
    assert _all(engine) == [(1, "a", None)]
    _clean(engine)


@pytest.mark.integration
def test_a_write_whose_rows_are_wanted_goes_at_once(engine):
    sent = _sent(engine)
    with engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        found = insert_rows(connection, notes, [{"id": 2, "text": "b", "units": None}], returning=(notes.c.id,))
        assert [row.id for row in found] == [2]
        assert len(sent) == 1  # BEGIN and the first write went with it
    assert sent[-1] == "COMMIT"
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
def test_a_failing_write_rolls_everything_back_and_the_connection_comes_back_clean(engine):
    with engine.begin() as connection:
        insert_rows(connection, notes, [{"id": 1, "text": "first", "units": None}])
    # failing in front of a read
    with (pytest.raises(sa.exc.IntegrityError) as failure, engine.connect() as connection,
          pipelined_transaction(connection)):
        insert_rows(connection, notes, [{"id": 2, "text": "second", "units": None}])
        insert_rows(connection, notes, [{"id": 1, "text": "again", "units": None}])  # the key is taken
        connection.execute(sa.select(notes.c.id)).fetchall()
    assert "pipelined_notes_pkey" in str(failure.value)
    assert _all(engine) == [(1, "first", None)]
    _clean(engine)
    # failing with the COMMIT, after a read that began the transaction
    with (pytest.raises(sa.exc.IntegrityError), engine.connect() as connection,
          pipelined_transaction(connection)):
        connection.execute(sa.select(notes.c.id)).fetchall()
        insert_rows(connection, notes, [{"id": 3, "text": "third", "units": None}])
        insert_rows(connection, notes, [{"id": 1, "text": "again", "units": None}])
    assert _all(engine) == [(1, "first", None)]
    _clean(engine)


@pytest.mark.integration
def test_an_error_of_the_caller_rolls_back_what_was_sent(engine):
    with pytest.raises(LookupError), engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        connection.execute(sa.select(notes.c.id)).fetchall()  # the insert went in, the transaction is open
        raise LookupError("the handler failed")
    assert _all(engine) == []
    _clean(engine)


@pytest.mark.integration
def test_a_connection_the_server_dropped_is_not_pooled_again(engine):
    with pytest.raises(sa.exc.OperationalError), engine.connect() as connection, pipelined_transaction(connection):
        connection.execute(sa.select(notes.c.id)).fetchall()
        pid = connection.connection.driver_connection.get_backend_pid()
        with make_engine(str(engine.url.render_as_string(hide_password=False))).connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        connection.execute(sa.select(notes.c.id)).fetchall()
    assert _all(engine) == []
    _clean(engine)


@pytest.mark.integration
def test_a_statement_with_several_parameter_sets_comes_after_the_writes(engine):
    with engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        connection.execute(sa.update(notes).where(notes.c.id == sa.bindparam("key")).values(text=sa.bindparam("t")),
                           [{"key": 1, "t": "b"}, {"key": 2, "t": "none"}])
    assert _all(engine) == [(1, "b", None)]
    _clean(engine)


@pytest.mark.integration
def test_any_text_goes_through_as_written(engine):
    """Percent signs, quotes, backslashes and placeholders' look-alikes in the values: the writes
    are written out by psycopg2 (mogrify) before they go in front of a statement with parameters."""
    text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))
    tricky = st.sampled_from(["%", "%s", "%(c0)s", "%%", "'", "\\", '"', ";", "{", "}", ",", "NULL", "COMMIT"])

    @settings(max_examples=60, deadline=None)
    @given(values=st.lists(st.one_of(st.none(), text, tricky), min_size=1, max_size=4))
    def survives(values):
        with engine.begin() as connection:
            connection.execute(notes.delete())
        with engine.connect() as connection, pipelined_transaction(connection):
            insert_rows(connection, notes, [{"id": i, "text": v, "units": [v]} for i, v in enumerate(values)])
            bulk_update(connection, notes, "id", [{"id": 0, "text": values[-1]}])
            bare = connection.execute(sa.text("SELECT '%(c0)s %s 100%' FROM pipelined_notes WHERE id = 0")).scalar_one()
            bound = connection.execute(sa.text("SELECT '100%' || :v FROM pipelined_notes WHERE id = 0"),
                                       {"v": "%s"}).scalar_one()
        assert (bare, bound) == ("%(c0)s %s 100%", "100%%s")
        assert _all(engine) == [(0, values[-1], [values[0]])] + [(i, v, [v]) for i, v in enumerate(values)][1:]

    survives()


def test_on_sqlite_the_block_is_a_transaction(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'notes.sqlite'}")
    metadata.create_all(engine)
    sent: list[str] = []
    sa.event.listen(engine, "after_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: sent.append(statement))
    with engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 1, "text": "a", "units": None}])
        assert len(sent) == 1
    with pytest.raises(LookupError), engine.connect() as connection, pipelined_transaction(connection):
        insert_rows(connection, notes, [{"id": 2, "text": "b", "units": None}])
        raise LookupError("rolled back")
    assert _all(engine) == [(1, "a", None)]
    engine.dispose()
