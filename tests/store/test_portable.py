"""The portable SQL surface (query, execute, transaction), the same on every backend."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest

from crimemap.errors import StoreError
from crimemap.store import Store
from crimemap.store._sql import lock_key, to_pyformat


def _table(store: Store) -> None:
    store.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT, t TIMESTAMP, tags TEXT[])")


def test_pyformat_rewrites_placeholders_outside_literals_only() -> None:
    sql = """SELECT '?', "a?b", x % 2, 'it''s 5%' -- why? 10%
             /* ? % */ FROM t WHERE a = ? AND b LIKE ?"""
    assert to_pyformat(sql) == (
        """SELECT '?', "a?b", x %% 2, 'it''s 5%%' -- why? 10%%
             /* ? %% */ FROM t WHERE a = %s AND b LIKE %s"""
    )
    with pytest.raises(ValueError, match="unterminated"):
        to_pyformat("SELECT 'oops")
    assert lock_key("a") == lock_key("a") != lock_key("b")
    assert -(2**63) <= lock_key("a") < 2**63


def test_query_takes_question_marks_lists_nulls_and_percent_signs(store: Store) -> None:
    _table(store)
    t0 = datetime(2024, 3, 1, 12, 30, 15, 123456)
    store.execute("INSERT INTO kv VALUES (?, ?, ?, ?)", ["a%", 1, t0, ["x", "y"]])
    store.execute("INSERT INTO kv VALUES (?, ?, ?, ?)", ["b?", 2, None, []])
    rows = store.query(
        "SELECT k, v, t, tags, '?' AS q FROM kv WHERE k = ANY(CAST(? AS TEXT[])) "
        "AND (CAST(? AS TEXT) IS NULL OR k LIKE 'a%') ORDER BY k",
        [["a%", "b?", "zzz"], None],
    ).to_pylist()
    assert rows == [
        {"k": "a%", "v": 1, "t": t0, "tags": ["x", "y"], "q": "?"},
        {"k": "b?", "v": 2, "t": None, "tags": [], "q": "?"},
    ]
    month = store.dialect.month("t")
    idx = store.dialect.month_index("t")
    got = store.query(f"SELECT {month} AS m, {idx} AS i FROM kv WHERE t IS NOT NULL").to_pylist()  # noqa: S608
    assert got == [{"m": "2024-03", "i": (2024 - 1970) * 12 + 2}]


def test_transaction_commits_or_rolls_back_as_a_whole(store: Store) -> None:
    _table(store)
    with store.transaction() as tx:
        tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ["a", 1])
        # Reads inside the transaction see its writes, through either path.
        assert tx.execute("SELECT v FROM kv WHERE k = ?", ["a"]).fetchone() == (1,)
        assert store.query("SELECT count(*) AS n FROM kv").to_pylist() == [{"n": 1}]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ["b", 2])
        raise RuntimeError("stop")
    with pytest.raises(StoreError, match="failed"), store.transaction() as tx:
        tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ["c", 3])
        tx.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ["a", 4])  # duplicate key
    assert store.query("SELECT k FROM kv ORDER BY k")["k"].to_pylist() == ["a"]
    # The store is usable after a failed transaction.
    store.execute("INSERT INTO kv (k, v) VALUES (?, ?)", ["d", 5])
    assert store.query("SELECT count(*) AS n FROM kv").to_pylist() == [{"n": 2}]


def test_nested_transactions_join_the_outer_one(store: Store) -> None:
    _table(store)
    with pytest.raises(RuntimeError), store.transaction() as outer:
        outer.execute("INSERT INTO kv (k, v) VALUES ('a', 1)")
        with store.transaction() as inner:
            assert inner is outer
            inner.execute("INSERT INTO kv (k, v) VALUES ('b', 2)")
            store.execute("INSERT INTO kv (k, v) VALUES ('c', 3)")
        raise RuntimeError("the outer block fails: nothing is kept")
    assert store.query("SELECT count(*) AS n FROM kv").to_pylist() == [{"n": 0}]


def test_other_threads_wait_for_an_open_transaction(store: Store) -> None:
    _table(store)
    seen: list[int] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        seen.append(int(store.query("SELECT count(*) AS n FROM kv")["n"][0].as_py()))

    with store.transaction() as tx:
        tx.execute("INSERT INTO kv (k, v) VALUES ('a', 1)")
        th = threading.Thread(target=reader)
        th.start()
        started.wait()
        th.join(0.3)
        assert th.is_alive()  # blocked until the commit
        tx.execute("INSERT INTO kv (k, v) VALUES ('b', 2)")
    th.join(10)
    assert seen == [2]


def test_bad_sql_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="query failed"):
        store.query("SELECT * FROM no_such_table WHERE a = ?", [1])
    with pytest.raises(StoreError):
        store.execute("INSERT INTO no_such_table VALUES (?)", [1])
