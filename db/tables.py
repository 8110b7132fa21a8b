"""PostgreSQL schema (SQLAlchemy Core). Rows never cross Temporal payloads; models do."""

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Column, DateTime, ForeignKey, Identity, Index, Integer, MetaData,
    String, Table, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _created() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


def _updated() -> Column:
    return Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now())


# ---------------------------------------------------------------- catalog
products = Table(
    "products", metadata,
    Column("id", String(40), primary_key=True),
    Column("handle", String(200), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("category", String(100), nullable=True),
    Column("status", String(20), nullable=False, server_default="draft"),
    _created(), _updated(),
    CheckConstraint("status IN ('draft','active','archived')", name="status"),
)

variants = Table(
    "variants", metadata,
    Column("id", String(40), primary_key=True),
    Column("product_id", String(40), ForeignKey("products.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("title", String(300), nullable=False),
    Column("options", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("gtin", String(14), nullable=True, unique=True),
    Column("mpn", String(100), nullable=True),
    Column("isbn", String(13), nullable=True),
    Column("weight_grams", Integer, nullable=False, server_default="0"),
    Column("status", String(20), nullable=False, server_default="draft"),
    # Total ATP at or below which a low-stock alert opens; 0 disables alerts.
    Column("reorder_point", Integer, nullable=False, server_default="0"),
    _created(), _updated(),
    CheckConstraint("status IN ('draft','active','archived')", name="status"),
    CheckConstraint("weight_grams >= 0", name="weight"),
    CheckConstraint("reorder_point >= 0", name="reorder_point"),
)

prices = Table(
    "prices", metadata,
    Column("variant_id", String(40), ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    _updated(),
    CheckConstraint("amount >= 0", name="amount"),
)

# ---------------------------------------------------------------- inventory
locations = Table(
    "locations", metadata,
    Column("id", String(40), primary_key=True),
    Column("code", String(50), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("region", String(50), nullable=False),
    Column("country", String(2), nullable=False),
    _created(),
)

stock = Table(
    "stock", metadata,
    Column("sku", String(64), ForeignKey("variants.sku", ondelete="CASCADE"), primary_key=True),
    Column("location_id", String(40), ForeignKey("locations.id"), primary_key=True),
    Column("on_hand", Integer, nullable=False, server_default="0"),
    Column("reserved", Integer, nullable=False, server_default="0"),
    Column("safety_stock", Integer, nullable=False, server_default="0"),
    _updated(),
    # Backstop for the application's row-locked arithmetic: the database itself refuses
    # any write that would hold more units than exist.
    CheckConstraint("on_hand >= 0", name="on_hand"),
    CheckConstraint("reserved >= 0", name="reserved"),
    CheckConstraint("reserved <= on_hand", name="reserved_le_on_hand"),
    CheckConstraint("safety_stock >= 0", name="safety"),
)

reservations = Table(
    "reservations", metadata,
    Column("id", String(40), primary_key=True),
    Column("reservation_key", String(100), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("location_id", String(40), ForeignKey("locations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(20), nullable=False, server_default="active"),
    Column("order_id", String(40), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    _created(), _updated(),
    UniqueConstraint("reservation_key", "sku", "location_id", name="uq_reservations_key_sku_location"),
    CheckConstraint("quantity > 0", name="quantity"),
    # active: checkout hold (expires) → committed: the order's hold → allocated: routed to the
    # shipping location → consumed: shipped (on_hand decremented). released/expired give stock back.
    CheckConstraint("status IN ('active','committed','allocated','consumed','released','expired')", name="status"),
)
Index("ix_reservations_active_expiry", reservations.c.expires_at, postgresql_where=text("status = 'active'"))

inventory_ledger = Table(
    "inventory_ledger", metadata,
    Column("id", BigInteger, Identity(), primary_key=True),  # internal only, never exposed
    Column("sku", String(64), nullable=False, index=True),
    Column("location_id", String(40), nullable=False),
    Column("delta_on_hand", Integer, nullable=False, server_default="0"),
    Column("delta_reserved", Integer, nullable=False, server_default="0"),
    Column("reason", String(40), nullable=False),
    Column("reference", String(100), nullable=True),
    Column("note", Text, nullable=True),
    _created(),
)

# One row per downward crossing of a SKU's reorder point; resolved when ATP climbs back above it.
low_stock_alerts = Table(
    "low_stock_alerts", metadata,
    Column("id", String(40), primary_key=True),
    Column("sku", String(64), ForeignKey("variants.sku", ondelete="CASCADE"), nullable=False, index=True),
    Column("atp_at_alert", Integer, nullable=False),
    Column("reorder_point", Integer, nullable=False),
    _created(),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
)
# Backstop for the variant-row lock in db.stock_alerts: at most one open alert per SKU.
Index("uq_low_stock_alerts_open_sku", low_stock_alerts.c.sku, unique=True,
      postgresql_where=text("resolved_at IS NULL"))

# ---------------------------------------------------------------- carts
carts = Table(
    "carts", metadata,
    Column("id", String(40), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False, server_default="open"),
    Column("email", String(320), nullable=True),
    Column("checkout_id", String(40), nullable=True),  # the checkout holding the cart, if any
    _created(), _updated(),
    CheckConstraint("status IN ('open','checking_out','checked_out')", name="status"),
)

cart_lines = Table(
    "cart_lines", metadata,
    Column("id", String(40), primary_key=True),
    Column("cart_id", String(40), ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("sku", String(64), ForeignKey("variants.sku"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    _created(), _updated(),
    UniqueConstraint("cart_id", "sku", name="uq_cart_lines_cart_sku"),
    CheckConstraint("quantity > 0", name="quantity"),
)

# ---------------------------------------------------------------- checkout & orders
checkouts = Table(
    "checkouts", metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("request_hash", String(64), nullable=False),
    Column("cart_id", String(40), nullable=False, index=True),
    Column("email", String(320), nullable=False),
    Column("order_id", String(40), nullable=False, unique=True),  # reserved up front, used on success
    Column("workflow_id", String(200), nullable=False),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    _created(), _updated(),
    CheckConstraint("status IN ('pending','completed','failed')", name="status"),
)

orders = Table(
    "orders", metadata,
    Column("id", String(40), primary_key=True),
    Column("checkout_id", String(40), nullable=False, unique=True),
    Column("cart_id", String(40), nullable=False),
    Column("email", String(320), nullable=False, index=True),
    Column("status", String(30), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("subtotal", BigInteger, nullable=False),
    Column("discount_total", BigInteger, nullable=False),
    Column("tax_total", BigInteger, nullable=False),
    Column("shipping_total", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("shipping_address", JSONB, nullable=False),
    Column("shipping_method", JSONB, nullable=False),
    Column("tax_provider", String(30), nullable=False),
    Column("tax_document", String(100), nullable=True),
    # The authorization captures draw on; replaced if it is re-authorized before anything ships.
    Column("payment_ref", String(100), nullable=False),
    Column("payment_provider", String(30), nullable=False),
    Column("authorization_id", String(200), nullable=False),
    Column("authorized_amount", BigInteger, nullable=False),
    Column("payment_method", String(200), nullable=True),  # kept for re-authorization
    _created(), _updated(),
    CheckConstraint("total = subtotal - discount_total + tax_total + shipping_total", name="total_adds_up"),
)

order_lines = Table(
    "order_lines", metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("sku", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("discount", BigInteger, nullable=False, server_default="0"),
    Column("tax", BigInteger, nullable=False, server_default="0"),
    Column("line_total", BigInteger, nullable=False),
    CheckConstraint("quantity > 0", name="quantity"),
)

order_events = Table(
    "order_events", metadata,
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("event_id", String(100), primary_key=True),  # business key: replays are no-ops
    Column("seq", BigInteger, Identity(), nullable=False),  # display order only
    Column("type", String(60), nullable=False),
    Column("from_status", String(30), nullable=True),
    Column("to_status", String(30), nullable=True),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _created(),
)

shipments = Table(
    "shipments", metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("location_id", String(40), ForeignKey("locations.id"), nullable=False),
    Column("status", String(30), nullable=False, server_default="pending_pack"),
    Column("workflow_id", String(200), nullable=False),
    Column("carrier", String(50), nullable=True),
    Column("service", String(50), nullable=True),
    Column("label_id", String(200), nullable=True),
    Column("label_url", Text, nullable=True),
    Column("label_cost", BigInteger, nullable=True),
    Column("tracking_code", String(100), nullable=True, unique=True),
    Column("capture_amount", BigInteger, nullable=True),
    Column("alert", String(60), nullable=True),
    Column("shipped_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    _created(), _updated(),
    CheckConstraint(
        "status IN ('pending_pack','packed','label_purchased','shipped','in_transit','delivered','cancelled')",
        name="status",
    ),
)

shipment_items = Table(
    "shipment_items", metadata,
    Column("shipment_id", String(40), ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("quantity > 0", name="quantity"),
)

# Carrier tracking events, deduplicated per shipment by the carrier's event id.
shipment_events = Table(
    "shipment_events", metadata,
    Column("shipment_id", String(40), ForeignKey("shipments.id", ondelete="CASCADE"), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("status", String(30), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("detail", Text, nullable=True),
    _created(),
)

# Customer emails sent per order, so a retried activity or replayed workflow never mails twice.
# kind: order_confirmation, shipped:<shipment_id>, delivered:<shipment_id>.
notifications = Table(
    "notifications", metadata,
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(100), primary_key=True),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("message_id", String(300), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Our own record of every payment operation, keyed by business idempotency key.
# Providers (and their test doubles) may not replay keys or enforce limits; this does.
payment_operations = Table(
    "payment_operations", metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("request_hash", String(64), nullable=False),
    Column("payment_ref", String(100), nullable=False, index=True),  # checkout/order the money belongs to
    Column("kind", String(20), nullable=False),
    Column("provider", String(30), nullable=False),
    Column("provider_ref", String(200), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(30), nullable=False),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    _created(),
    CheckConstraint("kind IN ('authorize','capture','void','refund','charge')", name="kind"),
    CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
    CheckConstraint("amount >= 0", name="amount"),
)

# ---------------------------------------------------------------- operations
# Provider webhooks, deduplicated by the provider's event id before anything acts on them.
webhook_inbox = Table(
    "webhook_inbox", metadata,
    Column("provider", String(20), primary_key=True),
    Column("event_id", String(200), primary_key=True),
    Column("event_type", String(100), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("outcome", String(60), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Ops switches that take a payment or shipping method out of checkout without a deploy.
kill_switches = Table(
    "kill_switches", metadata,
    Column("kind", String(20), primary_key=True),
    Column("name", String(50), primary_key=True),
    Column("disabled", Boolean, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    _updated(),
    CheckConstraint("kind IN ('payment_method','shipping_method')", name="kind"),
)

# ---------------------------------------------------------------- support: refunds and returns
refunds = Table(
    "refunds", metadata,
    Column("id", String(40), primary_key=True),  # derived from (order, Idempotency-Key)
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("request_hash", String(64), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("lines", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("include_shipping", Boolean, nullable=False, server_default="false"),
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=True),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("tax_refunded", BigInteger, nullable=False, server_default="0"),
    _created(), _updated(),
    CheckConstraint("amount > 0", name="amount"),
    CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
)

returns = Table(
    "returns", metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("status", String(30), nullable=False, server_default="requested"),
    Column("workflow_id", String(200), nullable=False),
    Column("exchange", Boolean, nullable=False, server_default="false"),
    Column("lines", JSONB, nullable=False),  # [{sku, quantity, reason}]
    Column("inspection", JSONB, nullable=True),  # [{sku, quantity, disposition, location_id}]
    Column("label", JSONB, nullable=True),
    Column("refund_id", String(40), nullable=True),
    Column("replacement_order_id", String(40), nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("note", Text, nullable=True),
    _created(), _updated(),
)

# ---------------------------------------------------------------- access: API keys and the audit log
# The secret itself is never stored: only its SHA-256 (see db.api_keys for why that suffices).
api_keys = Table(
    "api_keys", metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False),
    _created(),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("role IN ('storefront','support','ops','admin')", name="role"),
)

# Append-only record of who changed what by hand. No foreign keys: it outlives what it names.
audit_log = Table(
    "audit_log", metadata,
    Column("id", String(40), primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False),  # display order only: `at` ties within a transaction
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor_key_id", String(40), nullable=True),  # null: the `orderflow` command line
    Column("actor_name", String(100), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("action", String(60), nullable=False),
    Column("order_id", String(40), nullable=True, index=True),
    Column("target", String(200), nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    Column("request_id", String(100), nullable=True),
    Column("details", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint("(amount IS NULL) = (currency IS NULL)", name="amount_has_currency"),
)
Index("ix_audit_log_at", audit_log.c.at)
