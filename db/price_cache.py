"""The pricing version and a process-local cache of computed prices keyed by it.

Every write to base prices, price lists or promotions calls ``bump_version`` inside its own
transaction. The version is part of every cache key, so once such a write commits, every
process misses and recomputes: simple, and correct across processes without any messaging.
Writers bump *first*, before locking any other row: price writers serialize on this one row
(they are rare admin writes) and so cannot deadlock each other over it.

Readers read the version *before* the rows they compute from. Under READ COMMITTED a later
statement never sees older data than an earlier one, so an entry can hold newer data than its
key's version (harmless) but never older. Entries also expire at the next time-window edge of
the price lists and promotions that produced them, and after ``MAX_AGE`` at most (a backstop
for rows changed outside the application).
"""

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.tables import pricing_version

MAX_AGE = timedelta(minutes=5)


async def current_version(conn: AsyncConnection) -> tuple[str | None, int]:
    """(database, version): the database keeps processes that talk to several (tests) apart."""
    version = (await conn.execute(select(pricing_version.c.version).where(pricing_version.c.id == 1))).scalar()
    return conn.engine.url.database, version or 0


async def bump_version(conn: AsyncConnection) -> None:
    """Invalidate every process's computed prices once the caller's transaction commits."""
    stmt = insert(pricing_version).values(id=1, version=1)
    await conn.execute(stmt.on_conflict_do_update(index_elements=[pricing_version.c.id],
                                                  set_={"version": pricing_version.c.version + 1}))


class PriceCache:
    """LRU of computed prices; key ``(version, sku, segment, market, currency, promo cohort)``."""

    def __init__(self, max_entries: int = 50_000):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, tuple[Any, datetime]] = OrderedDict()
        self._promotions: tuple[tuple, list] | None = None
        self.hits = self.misses = 0

    def get(self, key: tuple, now: datetime) -> Any | None:
        found = self._entries.get(key)
        if found is None or found[1] <= now:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found[0]

    def put(self, key: tuple, value: Any, now: datetime, edges: list[datetime]) -> None:
        valid_until = min([edge for edge in edges if edge > now] + [now + MAX_AGE])
        self._entries[key] = (value, valid_until)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def promotions(self, version: tuple) -> list | None:
        """The active promotions parsed for ``version`` (one version kept)."""
        return self._promotions[1] if self._promotions and self._promotions[0] == version else None

    def keep_promotions(self, version: tuple, promotions: list) -> None:
        self._promotions = (version, promotions)

    def clear(self) -> None:
        self._entries.clear()
        self._promotions = None


CACHE = PriceCache()
