"""Small stand-ins for the Avalara and EasyPost HTTP APIs (stdlib http.server in a thread).

They answer the providers' documented JSON shapes for the calls our adapters make and
keep just enough state (committed documents, bought labels) to test retries and refunds.
``script()`` makes the next request(s) fail or stall, to test error mapping and timeouts.
"""

import base64
import itertools
import json
import threading
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CENT = Decimal("0.01")


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)  # test server only: amounts here have at most 2 decimals
    raise TypeError(type(value))


class FakeProvider:
    """One HTTP server; subclasses implement ``route``. Records every request."""

    def __init__(self):
        self.requests: list[dict] = []
        self._script: list[tuple[int, dict | None, float]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- test controls -------------------------------------------------------
    def script(self, status: int = 500, body: dict | None = None, *, delay: float = 0.0, times: int = 1) -> None:
        """The next ``times`` requests get ``status``/``body`` (after ``delay`` seconds)."""
        with self._lock:
            self._script.extend([(status, body, delay)] * times)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()

    # -- server ---------------------------------------------------------------
    def start(self) -> str:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                if "json" in (self.headers.get("Content-Type") or ""):
                    body = json.loads(raw, parse_float=Decimal) if raw else {}
                else:  # form-encoded (Stripe)
                    body = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                parts = urlsplit(self.path)
                status, answer = provider.dispatch(self.command, parts.path, parse_qs(parts.query), body,
                                                   dict(self.headers))
                payload = json.dumps(answer, default=_json_default).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in provider.response_headers().items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def dispatch(self, method, path, query, body, headers) -> tuple[int, dict]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "body": body, "headers": headers})
            scripted = self._script.pop(0) if self._script else None
        if scripted is not None:
            status, answer, delay = scripted
            time.sleep(delay)
            return status, answer if answer is not None else self.error_body(status)
        with self._lock:
            return self.route(method, path, query, body, headers)

    def response_headers(self) -> dict:
        return {}

    def error_body(self, status: int) -> dict:
        return {"error": {"code": f"HTTP{status}", "message": f"scripted {status}"}}

    def route(self, method, path, query, body, headers) -> tuple[int, dict]:
        raise NotImplementedError


class FakeAvalara(FakeProvider):
    """AvaTax REST v2: create, createoradjust, void, refund. Taxes every line at ``RATE``."""

    RATE = Decimal("0.0725")

    def __init__(self, account: str, license_key: str):
        super().__init__()
        self.credentials = "Basic " + base64.b64encode(f"{account}:{license_key}".encode()).decode()
        self.documents: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def response_headers(self) -> dict:
        return {"x-correlation-id": str(uuid.uuid4())}  # the SDK's logger reads it on every answer

    def error_body(self, status: int) -> dict:
        return {"error": {"code": "ServerError" if status >= 500 else "InvalidRequest", "message": f"scripted {status}",
                          "target": "Unknown", "details": []}}

    def route(self, method, path, query, body, headers):
        if headers.get("Authorization") != self.credentials:
            return 401, {"error": {"code": "AuthenticationException", "message": "Authentication failed."}}
        parts = path.strip("/").split("/")  # api v2 companies {c} transactions {code} {action}
        if path == "/api/v2/transactions/create":
            return self._create(body)
        if path == "/api/v2/transactions/createoradjust":
            return self._create(body["createTransactionModel"], adjust=True)
        if len(parts) == 7 and parts[2] == "companies" and parts[4] == "transactions":
            code, action = parts[5], parts[6]
            doc = self.documents.get(code)
            if doc is None:
                return 404, {"error": {"code": "EntityNotFoundError", "message": f"Document {code} not found",
                                       "target": "HttpRequest"}}
            if action == "void":
                doc["status"] = "Cancelled"
                return 200, doc
            if action == "refund":
                return self._refund(doc, body)
        return 404, {"error": {"code": "NotFound", "message": path}}

    def _create(self, model, adjust=False):
        if not model.get("lines"):
            return 400, {"error": {"code": "MissingLine", "message": "A transaction must have at least one line.",
                                   "target": "IncorrectData"}}
        code = model.get("code") or str(uuid.uuid4())
        recorded = model.get("type") == "SalesInvoice"
        if recorded and code in self.documents and not adjust:
            return 400, {"error": {"code": "DuplicateTransaction", "message": f"Duplicate document {code}"}}
        lines = [self._line(line) for line in model["lines"]]
        doc = {"id": next(self._ids), "code": code, "companyId": 1, "type": model.get("type", "SalesOrder"),
               "status": "Committed" if recorded and model.get("commit") else ("Saved" if recorded else "Temporary"),
               "currencyCode": model.get("currencyCode", "USD"), "lines": lines,
               "totalAmount": sum(line["lineAmount"] for line in lines), "totalTax": sum(line["tax"] for line in lines)}
        if recorded:
            self.documents[code] = doc
        return 201 if not adjust else 200, doc

    def _line(self, line):
        amount = Decimal(line["amount"])
        tax = (amount * self.RATE).quantize(CENT, rounding=ROUND_HALF_UP)
        return {"lineNumber": line["number"], "itemCode": line.get("itemCode"), "taxCode": line.get("taxCode"),
                "quantity": line.get("quantity", 1), "lineAmount": amount, "tax": tax,
                "taxCalculated": amount * self.RATE}

    def _refund(self, doc, model):
        if doc["status"] != "Committed":
            return 400, {"error": {"code": "CannotModifyLockedTransaction" if doc["status"] == "Cancelled"
                                   else "InvalidDocumentStatus", "message": f"document is {doc['status']}"}}
        refund_code = model["refundTransactionCode"]
        if refund_code in self.documents:
            return 400, {"error": {"code": "DuplicateTransaction", "message": f"Duplicate document {refund_code}"}}
        kind = model.get("refundType", "Full")
        lines = doc["lines"]
        factor = Decimal(1)
        if kind == "Partial":
            lines = [line for line in lines if line["lineNumber"] in model.get("refundLines", [])]
        elif kind == "Percentage":
            factor = Decimal(model["refundPercentage"]) / 100
        returned = [{**line, "lineAmount": -(line["lineAmount"] * factor).quantize(CENT, rounding=ROUND_HALF_UP),
                     "tax": -(line["tax"] * factor).quantize(CENT, rounding=ROUND_HALF_UP)} for line in lines]
        refund = {**doc, "id": next(self._ids), "code": refund_code, "type": "ReturnInvoice", "status": "Committed",
                  "lines": returned, "totalAmount": sum(line["lineAmount"] for line in returned),
                  "totalTax": sum(line["tax"] for line in returned)}
        self.documents[refund_code] = refund
        return 201, refund


class FakeEasyPost(FakeProvider):
    """EasyPost v2: addresses (verify), shipments, rates, buy, refund."""

    # carrier, service, base, per ounce, delivery days
    SERVICES = [
        ("USPS", "GroundAdvantage", "5.50", "0.15", 5),
        ("USPS", "Priority", "9.35", "0.30", 2),
        ("USPS", "Express", "24.90", "0.40", 1),
        ("UPS", "Ground", "9.12", "0.20", 4),
        ("UPS", "NextDayAir", "31.47", "0.50", 1),
    ]
    UNDELIVERABLE = "999 NOWHERE"

    def __init__(self, api_key: str):
        super().__init__()
        self.api_key = api_key
        self.shipments: dict[str, dict] = {}
        self.rates: dict[str, dict] = {}
        self._ids = itertools.count(1)

    def _id(self, prefix):
        return f"{prefix}_{next(self._ids):06d}{uuid.uuid4().hex[:8]}"

    def error_body(self, status: int) -> dict:
        return {"error": {"code": "INTERNAL_SERVER_ERROR" if status >= 500 else "SHIPMENT.INVALID_PARAMS",
                          "message": f"scripted {status}", "errors": []}}

    def route(self, method, path, query, body, headers):
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": {"code": "APIKEY.INACTIVE", "message": "The API key is inactive.", "errors": []}}
        parts = path.strip("/").split("/")[1:]  # drop "v2"
        if parts == ["addresses"] and method == "POST":
            return self._address(body)
        if parts == ["shipments"] and method == "POST":
            return self._shipment(body["shipment"])
        if len(parts) == 2 and parts[0] == "rates" and parts[1] in self.rates:
            return 200, self.rates[parts[1]]
        if len(parts) >= 2 and parts[0] == "shipments" and parts[1] in self.shipments:
            shipment = self.shipments[parts[1]]
            if len(parts) == 2:
                return 200, shipment
            if parts[2] == "buy":
                return self._buy(shipment, body)
            if parts[2] == "refund":
                return self._refund(shipment)
        return 404, {"error": {"code": "NOT_FOUND", "message": "The requested resource could not be found.",
                               "errors": []}}

    def _address(self, body):
        given = body["address"]
        street = given.get("street1", "").upper()
        ok = bool(street) and not street.startswith(self.UNDELIVERABLE)
        errors = [] if ok else [{"code": "E.ADDRESS.NOT_FOUND", "field": "address", "message": "Address not found",
                                 "suggestion": None}]
        zip_code = given.get("zip", "")
        if ok and given.get("country") == "US" and len(zip_code) == 5:
            zip_code = f"{zip_code}-1804"
        address = {"id": self._id("adr"), "object": "Address", "name": given.get("name"), "street1": street,
                   "street2": (given.get("street2") or "").upper() or None, "city": given.get("city", "").upper(),
                   "state": (given.get("state") or "").upper() or None,
                   "zip": zip_code,
                   "country": given.get("country"),
                   "verifications": {"zip4": {"success": ok, "errors": errors, "details": None},
                                     "delivery": {"success": ok, "errors": errors, "details": None}}}
        return 200, address

    def _shipment(self, spec):
        weight = Decimal(str(spec.get("parcel", {}).get("weight", 0)))
        to_address = spec.get("to_address") or {}
        if weight <= 0 or not to_address.get("street1"):
            return 422, {"error": {"code": "SHIPMENT.INVALID_PARAMS", "message": "Unable to create shipment",
                                   "errors": [{"field": "parcel.weight" if weight <= 0 else "to_address.street1",
                                               "message": "is invalid"}]}}
        if to_address["street1"].upper().startswith(self.UNDELIVERABLE):
            return 422, {"error": {"code": "ADDRESS.VERIFY.FAILURE", "message": "Address not found",
                                   "errors": [{"field": "address", "message": "Address not found"}]}}
        shipment_id = self._id("shp")
        rates = []
        for carrier, service, base, per_oz, days in self.SERVICES:
            price = (Decimal(base) + Decimal(per_oz) * weight).quantize(CENT, rounding=ROUND_HALF_UP)
            rate = {"id": self._id("rate"), "object": "Rate", "carrier": carrier, "service": service,
                    "rate": f"{price}", "currency": "USD", "retail_rate": f"{price + 1}", "delivery_days": days,
                    "est_delivery_days": days, "shipment_id": shipment_id, "carrier_account_id": "ca_fake"}
            self.rates[rate["id"]] = rate
            rates.append(rate)
        shipment = {"id": shipment_id, "object": "Shipment", "reference": spec.get("reference"),
                    "to_address": to_address, "from_address": spec.get("from_address"), "parcel": spec.get("parcel"),
                    "rates": rates, "selected_rate": None, "postage_label": None, "tracking_code": None,
                    "refund_status": None, "messages": []}
        self.shipments[shipment_id] = shipment
        return 201, shipment

    def _buy(self, shipment, body):
        if shipment["postage_label"]:
            return 422, {"error": {"code": "SHIPMENT.POSTAGE.EXISTS",
                                   "message": "Shipment already has postage.", "errors": []}}
        rate_id = (body.get("rate") or {}).get("id")
        rate = next((r for r in shipment["rates"] if r["id"] == rate_id), None)
        if rate is None:
            return 422, {"error": {"code": "SHIPMENT.RATE.INVALID", "message": "Invalid rate.", "errors": []}}
        label_id = self._id("pl")
        shipment.update(selected_rate=rate, tracking_code=f"9400{next(self._ids):018d}",
                        postage_label={"id": label_id, "object": "PostageLabel", "label_file_type": "image/png",
                                       "label_url": f"https://easypost-files.example/postage_label/{label_id}.png"})
        return 200, shipment

    def _refund(self, shipment):
        if not shipment["postage_label"]:
            return 422, {"error": {"code": "SHIPMENT.REFUND.UNAVAILABLE", "message": "No postage to refund.",
                                   "errors": []}}
        if shipment["refund_status"]:
            return 422, {"error": {"code": "SHIPMENT.REFUND.ALREADY_REQUESTED",
                                   "message": "Refund already requested.", "errors": []}}
        shipment["refund_status"] = "submitted"
        return 200, shipment
