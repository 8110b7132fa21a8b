"""Answering JSON or CSV: the reports and the stock list let the caller choose."""

from typing import Literal

from fastapi import Request, Response

Format = Literal["json", "csv"] | None


def wants_csv(request: Request, format: Format) -> bool:
    """``format`` decides when given; otherwise the Accept header (a browser's */* gets JSON)."""
    if format is not None:
        return format == "csv"
    return "text/csv" in request.headers.get("accept", "")


def csv_response(text: str, name: str) -> Response:
    return Response(text, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
