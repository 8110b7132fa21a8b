"""Console pages for ops: the stock list with reorder point and safety stock editing, the audit log, and the
sales report with a daily revenue chart (server-rendered SVG).

Edits call the handlers of the JSON routes (services/stock_admin.py); reads go through db query functions.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request

from api.console_chart import revenue_chart
from api.console_web import CheckedSession, ConsoleRoute, Session, back_to, flash, flashed, page
from api.deps import AppSettings, Engine, Services
from db import audit, inventory, inventory_admin
from db import reports as report_store
from models.errors import DomainError
from models.inventory import INT_MAX
from models.reports import check_range
from services import stock_admin

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
Text = Annotated[str, Form(max_length=200)]
AUDIT_PAGE = 50
REPORT_DAYS = 30


@router.get("/inventory")
async def inventory_page(request: Request, engine: Engine, session: Session, location: str = "", below: str = ""):
    """Every SKU at every location; ``below=1`` keeps the SKUs at or below their reorder point."""
    async with engine.connect() as conn:
        rows = await inventory.stock_list(conn, location=location[:50] or None, below_reorder_point=below == "1")
        locations = await inventory_admin.list_locations(conn)
    back = f"/console/inventory?{urlencode({'location': location[:50], 'below': below[:1]})}"
    return page("inventory.html", session=session, rows=rows, locations=locations, location=location[:50],
                below=below == "1", back=back, flash=flash(request, session))


def _units(value: str) -> int:
    """A whole number of units typed in a form, or ``invalid_count``."""
    try:
        number = int(value.strip())
    except ValueError:
        number = -1
    if not 0 <= number <= INT_MAX:
        raise DomainError(f"{value!r} is not a whole number of units", code="invalid_count")
    return number


@router.post("/inventory/{sku}/reorder-point")
async def set_reorder_point(sku: str, services: Services, session: CheckedSession, reorder_point: Text = "",
                            back: Text = ""):
    back = back_to(back, "/console/inventory")

    async def act() -> str:
        value = _units(reorder_point)
        await stock_admin.set_reorder_point(services, stock_admin.SetReorderPoint(
            sku=sku, reorder_point=value, caller=session.caller, audit_details={"via": "console"}))
        return f"{sku}: reorder point {value}."

    return await flashed(session, back, "Reorder point not set", act, action="reorder point", sku=sku)


@router.post("/inventory/{sku}/locations/{location_code}/safety-stock")
async def set_safety_stock(sku: str, location_code: str, services: Services, session: CheckedSession,
                           safety_stock: Text = "", back: Text = ""):
    back = back_to(back, "/console/inventory")

    async def act() -> str:
        value = _units(safety_stock)
        await stock_admin.set_safety_stock(services, stock_admin.SetSafetyStock(
            sku=sku, location_code=location_code, safety_stock=value, caller=session.caller,
            audit_details={"via": "console"}))
        return f"{sku} at {location_code}: safety stock {value}."

    return await flashed(session, back, "Safety stock not set", act, action="safety stock", sku=sku)


@router.get("/audit")
async def audit_page(request: Request, engine: Engine, session: Session, actor: str = "", action: str = "",
                     since: str = "", until: str = "", after: str = ""):
    """Every audited action, newest first; ``since``/``until`` are days (UTC), ``until`` inclusive."""
    filters = {"actor": actor.strip()[:100], "action": action.strip()[:60], "since": since[:10], "until": until[:10]}
    entries, next_after, message = [], None, ""
    try:
        start = _day_start(filters["since"])
        end = _day_start(filters["until"], days_after=1)
        async with engine.connect() as conn:
            entries, next_after = await audit.browse(conn, actor=filters["actor"] or None,
                                                     action=filters["action"] or None, since=start, until=end,
                                                     after=after[:40] or None, limit=AUDIT_PAGE)
    except (ValueError, DomainError) as error:
        message = getattr(error, "message", None) or f"Dates are YYYY-MM-DD ({error})."
    next_page = f"/console/audit?{urlencode({**filters, 'after': next_after})}" if next_after else None
    return page("audit.html", session=session, entries=entries, filters=filters, message=message,
                next_page=next_page, flash=flash(request, session))


def _day_start(day: str, days_after: int = 0) -> datetime | None:
    return datetime.combine(date.fromisoformat(day) + timedelta(days=days_after), time(), UTC) if day else None


@router.get("/reports")
async def reports_page(request: Request, engine: Engine, settings: AppSettings, session: Session,
                       start: str = "", end: str = ""):
    """Daily sales (revenue leaves out cancelled orders and no-charge exchanges) with a revenue chart per currency;
    the last 30 days of the store's calendar (REPORT_TIMEZONE) unless asked otherwise."""
    today = datetime.now(ZoneInfo(settings.report_timezone)).date()
    report, message = None, ""
    try:
        first = date.fromisoformat(start[:10]) if start else today - timedelta(days=REPORT_DAYS - 1)
        last = date.fromisoformat(end[:10]) if end else today
        check_range(first, last)
        async with (getattr(request.app.state, "read_engine", None) or engine).connect() as conn:
            report = await report_store.sales(conn, first, last, settings.report_timezone)
    except ValueError as error:
        message, first, last = f"Dates are YYYY-MM-DD ({error}).", today, today
    except DomainError as error:
        message = error.message
    charts = [(total, revenue_chart(_daily(report, total.currency), total.currency))
              for total in (report.totals if report else [])]
    return page("reports.html", session=session, report=report, charts=charts, start=first, end=last,
                timezone=settings.report_timezone, message=message)


def _daily(report, currency: str) -> list[tuple[date, int]]:
    return [(day.date, next((c.revenue for c in day.currencies if c.currency == currency), 0)) for day in report.days]
