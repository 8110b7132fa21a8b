"""Reports for ops: daily sales (JSON or CSV) with cart abandonment and recovery, and monthly fraud."""

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from api.schemas import ErrorResponse
from db import reconciliation as reconciliation_store
from db import reports as store
from models.reconciliation import ReconciliationReport
from models.reports import FraudReport, SalesReport, check_range, month_bounds, sales_csv

router = APIRouter(prefix="/reports", tags=["reports"])


async def report_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """The read replica (DATABASE_READ_URL) when there is one: long report queries stay off the primary."""
    state = request.app.state
    async with getattr(state, "read_engine", state.engine).connect() as conn:
        yield conn


ReadConn = Annotated[AsyncConnection, Depends(report_conn)]
_ERRORS = {422: {"model": ErrorResponse}}


@router.get("/sales", response_model=SalesReport, responses={
    **_ERRORS, 200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv`"}})
async def sales_report(conn: ReadConn, start: date = Query(alias="from", description="First day (UTC), YYYY-MM-DD"),
                       end: date = Query(alias="to", description="Last day (UTC), inclusive"),
                       format: Literal["json", "csv"] = "json"):
    """Per day: orders, revenue and AOV per currency, refunds, cart abandonment and conversion; plus the
    recovery rate of carts that got a reminder. At most 366 days (`invalid_date_range`)."""
    check_range(start, end)
    report = await store.sales(conn, start, end)
    if format == "csv":
        return Response(sales_csv(report), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="sales-{start.isoformat()}-{end.isoformat()}.csv"'})
    return report


@router.get("/fraud", response_model=FraudReport, responses=_ERRORS)
async def fraud_report(conn: ReadConn, month: str = Query(description="YYYY-MM (UTC)", max_length=7)) -> FraudReport:
    """Chargeback rate of a month (disputes / orders) and how its checkouts were screened and reviewed."""
    start, next_month = month_bounds(month)
    return await store.fraud(conn, month, start, next_month)


@router.get("/reconciliation", response_model=ReconciliationReport)
async def reconciliation_report(conn: ReadConn) -> ReconciliationReport:
    """The last reconciliation run: when, how many operations it checked, settled and voided, and what it
    could not settle (``unsettled`` items need a human; the run also carries `ReconciliationAlert`)."""
    return ReconciliationReport(last_run=await reconciliation_store.last_run(conn))
