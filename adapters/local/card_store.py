"""Memory of the local card simulator: its intents and the first answer under each idempotency key.

Two interchangeable stores. ``PostgresCardStore`` keeps the simulator's state in its own tables
(``local_card_intents``, ``local_card_requests``, ``local_card_methods``), apart from our payment ledger,
the way a real provider keeps its own books: a worker killed with -9 comes back to the same intents, several worker
processes share them, and each operation runs under a transaction-scoped advisory lock, as a real
provider serialises requests on one intent. ``MemoryCardStore`` is the same contract for a process
without a database (unit tests, the API building a gateway with no DATABASE_URL); it is as strict,
only not durable.
"""

import asyncio
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.tables import local_card_intents, local_card_methods, local_card_requests

INTENT_FIELDS = ("id", "kind", "reference", "amount", "currency", "status", "amount_captured", "amount_refunded",
                 "captures", "multicapture_requested", "multicapture_available")


class CardBook(Protocol):
    """One locked unit of work over the simulator's state."""

    async def request(self, idempotency_key: str) -> dict | None: ...

    async def remember(self, idempotency_key: str, *, request_hash: str, kind: str, intent_id: str | None,
                       answer: dict) -> None: ...

    async def requests_for(self, intent_id: str, kind: str) -> list[dict]: ...

    async def intent(self, intent_id: str) -> dict | None: ...

    async def save_intent(self, intent: dict) -> None: ...

    async def method(self, method_id: str) -> dict | None:
        """A payment method's state (``customer_ref``, ``spent``), held for the rest of this unit of work."""
        ...

    async def save_method(self, method: dict) -> None: ...


class MemoryCardStore:
    def __init__(self) -> None:
        self._requests: dict[str, dict] = {}
        self._intents: dict[str, dict] = {}
        self._methods: dict[str, dict] = {}
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def locked(self, _name: str):
        async with self._lock:
            yield self

    async def request(self, idempotency_key):
        found = self._requests.get(idempotency_key)
        return dict(found) if found else None

    async def remember(self, idempotency_key, *, request_hash, kind, intent_id, answer):
        self._requests[idempotency_key] = {"request_hash": request_hash, "kind": kind, "intent_id": intent_id,
                                           "answer": answer}

    async def requests_for(self, intent_id, kind):
        return [{"idempotency_key": key, **request} for key, request in self._requests.items()
                if request["intent_id"] == intent_id and request["kind"] == kind]

    async def intent(self, intent_id):
        found = self._intents.get(intent_id)
        return dict(found) if found else None

    async def save_intent(self, intent):
        self._intents[intent["id"]] = dict(intent)

    async def method(self, method_id):
        found = self._methods.get(method_id)
        return dict(found) if found else None

    async def save_method(self, method):
        self._methods[method["id"]] = dict(method)


class PostgresCardStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def locked(self, name: str):
        async with self.engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 7))"),
                               {"name": f"local-card:{name}"})
            yield _PostgresBook(conn)


class _PostgresBook:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def request(self, idempotency_key):
        row = (await self.conn.execute(select(local_card_requests)
                                       .where(local_card_requests.c.idempotency_key == idempotency_key))).first()
        return row._asdict() if row else None

    async def remember(self, idempotency_key, *, request_hash, kind, intent_id, answer):
        await self.conn.execute(insert(local_card_requests).values(
            idempotency_key=idempotency_key, request_hash=request_hash, kind=kind, intent_id=intent_id,
            answer=answer))

    async def requests_for(self, intent_id, kind):
        rows = await self.conn.execute(select(local_card_requests).where(
            local_card_requests.c.intent_id == intent_id, local_card_requests.c.kind == kind)
            .order_by(local_card_requests.c.created_at, local_card_requests.c.idempotency_key))
        return [row._asdict() for row in rows]

    async def intent(self, intent_id):
        row = (await self.conn.execute(select(local_card_intents).where(local_card_intents.c.id == intent_id)
                                       .with_for_update())).first()
        return {field: getattr(row, field) for field in INTENT_FIELDS} if row else None

    async def save_intent(self, intent):
        values = {field: intent[field] for field in INTENT_FIELDS}
        await self.conn.execute(insert(local_card_intents).values(**values).on_conflict_do_update(
            index_elements=["id"], set_={**{k: v for k, v in values.items() if k != "id"},
                                         "updated_at": text("now()")}))

    async def method(self, method_id):
        # Two payments naming one method under different keys hold different locks: serialise on the method too.
        await self.conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 7))"),
                                {"name": f"local-card-method:{method_id}"})
        row = (await self.conn.execute(select(local_card_methods)
                                       .where(local_card_methods.c.id == method_id))).first()
        return {"id": row.id, "customer_ref": row.customer_ref, "spent": row.spent} if row else None

    async def save_method(self, method):
        values = {"id": method["id"], "customer_ref": method["customer_ref"], "spent": method["spent"]}
        await self.conn.execute(insert(local_card_methods).values(**values).on_conflict_do_update(
            index_elements=["id"], set_={"customer_ref": values["customer_ref"], "spent": values["spent"],
                                         "updated_at": text("now()")}))
