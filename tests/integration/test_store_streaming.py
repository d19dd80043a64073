"""A sweep's read of every person (`Store.iter_identities`) streams from PostgreSQL.

On a real PostgreSQL: the rows come through a server-side cursor, a batch
at a time, so neither the server's answer nor the driver's buffer holds
every person at once (a client-side cursor reads the whole result before
the first row is handed out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from iam import store as store_module
from iam.store import IDENTITIES_A_FETCH, Store

if TYPE_CHECKING:
    from tests.support.postgres import Database

pytest_plugins = ["tests.support.postgres"]  # the pg_cluster and pg fixtures

PEOPLE = IDENTITIES_A_FETCH * 2 + 7
#: What the other sessions on the test's database last asked (a cursor's fetch, while it is open).
ACTIVITY = "SELECT query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"


def test_identities_stream_from_a_server_side_cursor_a_batch_at_a_time(pg: Database) -> None:
    store = Store(pg.url)
    try:
        rows = [
            {
                "username": f"p{i:05d}",
                "hr_id": f"H{i}",
                "status": "active",
                "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
                "attributes": {"department": f"d{i % 7}"},
            }
            for i in range(PEOPLE)
        ]
        with store.engine.begin() as db:
            db.execute(sa.insert(store_module.identities), rows)
        streamed = store.iter_identities()
        first = next(streamed)
        # while the sweep works on the first person, the server holds an open cursor for the rest
        cursors = pg.rows(ACTIVITY)
        ahead = [next(streamed) for _ in range(IDENTITIES_A_FETCH)]
        later = pg.rows(ACTIVITY)
        rest = ahead + list(streamed)
    finally:
        store.close()

    assert first[0] == "p00000"
    assert [r[0] for r in rest] == [f"p{i:05d}" for i in range(1, PEOPLE)]
    assert rest[-1][2] == {"department": f"d{(PEOPLE - 1) % 7}"}
    fetches = [q for (q,) in cursors if q.lstrip().upper().startswith("FETCH FORWARD")]
    assert fetches, f"no server-side cursor fetching the identities: {cursors}"
    assert [q for (q,) in later if q.upper().startswith(f"FETCH FORWARD {IDENTITIES_A_FETCH} ")], later
