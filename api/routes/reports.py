"""Reports for ops: daily sales with cart abandonment and recovery, payment health, fulfilment, returns,
inventory, monthly fraud. Days are the store's (``REPORT_TIMEZONE``). JSON, or CSV with ``format=csv`` or
``Accept: text/csv``."""

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from api.csv_answers import Format, csv_response, wants_csv
from api.deps import AppSettings
from api.schemas import ErrorResponse
from db import operations_reports as operations
from db import reconciliation as reconciliation_store
from db import reports as store
from models.operations_reports import FulfilmentReport, PaymentHealth, ReturnsReport
from models.reconciliation import ReconciliationReport
from models.reports import FraudReport, SalesReport, check_range, csv_text, month_bounds, sales_csv
from models.stock_admin import InventoryReport

router = APIRouter(prefix="/reports", tags=["reports"])


async def report_conn(request: Request) -> AsyncIterator[AsyncConnection]:
    """The read replica (DATABASE_READ_URL) when there is one: long report queries stay off the primary."""
    state = request.app.state
    async with getattr(state, "read_engine", state.engine).connect() as conn:
        yield conn


ReadConn = Annotated[AsyncConnection, Depends(report_conn)]
_ERRORS = {422: {"model": ErrorResponse}}
_CSV = {200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv` or `Accept: text/csv`"}}
From = Query(alias="from", description="First day (REPORT_TIMEZONE), YYYY-MM-DD")
To = Query(alias="to", description="Last day, inclusive")


def _answer(request: Request, format: Format, report, name: str):
    if wants_csv(request, format):
        return csv_response(csv_text(*report.csv_rows()), name)
    return report


@router.get("/sales", response_model=SalesReport, responses={**_ERRORS, **_CSV})
async def sales_report(request: Request, conn: ReadConn, settings: AppSettings, start: date = From, end: date = To,
                       format: Format = None):
    """Per day: sales (orders neither cancelled nor no-charge exchanges), revenue and AOV per currency, cancelled
    orders, refunds, cart abandonment and conversion; plus the recovery rate of carts that got a reminder. At
    most 366 days (`invalid_date_range`)."""
    check_range(start, end)
    report = await store.sales(conn, start, end, settings.report_timezone)
    if wants_csv(request, format):
        return csv_response(sales_csv(report), f"sales-{start.isoformat()}-{end.isoformat()}")
    return report


@router.get("/payments", response_model=PaymentHealth, responses={**_ERRORS, **_CSV})
async def payments_report(request: Request, conn: ReadConn, settings: AppSettings, start: date = From,
                          end: date = To, format: Format = None):
    """Payment health from the ledger: authorization rate, decline codes, captured and refunded per currency
    (refund rate)."""
    return await _period(request, conn, settings, start, end, format, operations.payments, "payments")


@router.get("/fulfilment", response_model=FulfilmentReport, responses={**_ERRORS, **_CSV})
async def fulfilment_report(request: Request, conn: ReadConn, settings: AppSettings, start: date = From,
                            end: date = To, format: Format = None):
    """Parcels created in the period: time to pack and to ship (average, median) and label cost per order."""
    return await _period(request, conn, settings, start, end, format, operations.fulfilment, "fulfilment")


@router.get("/returns", response_model=ReturnsReport, responses={**_ERRORS, **_CSV})
async def returns_report(request: Request, conn: ReadConn, settings: AppSettings, start: date = From,
                         end: date = To, format: Format = None):
    """Return rate of the period's orders, and the period's returns by reason (units) and status."""
    return await _period(request, conn, settings, start, end, format, operations.returns_in, "returns")


async def _period(request: Request, conn, settings, start: date, end: date, format: Format, query, name: str):
    check_range(start, end)
    report = await query(conn, start, end, settings.report_timezone)
    return _answer(request, format, report, f"{name}-{start.isoformat()}-{end.isoformat()}")


@router.get("/inventory", response_model=InventoryReport, responses=_CSV)
async def inventory_report(request: Request, conn: ReadConn, format: Format = None):
    """Now: SKUs and units on hand, their value at base price per currency, the SKUs below their reorder point."""
    return _answer(request, format, await operations.inventory_now(conn), "inventory")


@router.get("/fraud", response_model=FraudReport, responses=_ERRORS)
async def fraud_report(conn: ReadConn, settings: AppSettings,
                       month: str = Query(description="YYYY-MM (REPORT_TIMEZONE)", max_length=7)) -> FraudReport:
    """Chargeback rate of a month (disputes / orders) and how its checkouts were screened and reviewed."""
    start, next_month = month_bounds(month)
    return await store.fraud(conn, month, start, next_month, settings.report_timezone)


@router.get("/reconciliation", response_model=ReconciliationReport)
async def reconciliation_report(conn: ReadConn) -> ReconciliationReport:
    """The last reconciliation run: when, how many operations it checked, settled and voided, and what it
    could not settle (``unsettled`` items need a human; the run also carries `ReconciliationAlert`)."""
    return ReconciliationReport(last_run=await reconciliation_store.last_run(conn))
