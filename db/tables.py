"""PostgreSQL schema (SQLAlchemy Core). Rows never cross Temporal payloads; models do."""

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Identity, Index, Integer, MetaData,
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
    Column("tax_code", String(25), nullable=True),  # sent to the tax provider (Avalara); variants may override
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
    Column("tax_code", String(25), nullable=True),  # None: the product's
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
    # Stock transfers (db.transfers): units shipped here and not yet received (they count toward
    # ATP), and units committed to leave that are still on this shelf (they do not).
    Column("inbound_transfers", Integer, nullable=False, server_default="0"),
    Column("outbound_transfers", Integer, nullable=False, server_default="0"),
    _updated(),
    # Backstop for the application's row-locked arithmetic: the database itself refuses
    # any write that would promise (to customers or to other locations) more units than exist
    # here or are confirmed on their way here.
    CheckConstraint("on_hand >= 0", name="on_hand"),
    CheckConstraint("reserved >= 0", name="reserved"),
    CheckConstraint("inbound_transfers >= 0", name="inbound_transfers"),
    CheckConstraint("outbound_transfers >= 0", name="outbound_transfers"),
    CheckConstraint("reserved + outbound_transfers <= on_hand + inbound_transfers", name="committed_le_supply"),
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
    Column("delta_inbound_transfers", Integer, nullable=False, server_default="0"),
    Column("delta_outbound_transfers", Integer, nullable=False, server_default="0"),
    Column("reason", String(40), nullable=False),
    Column("reference", String(100), nullable=True),
    Column("note", Text, nullable=True),
    _created(),
)

# Stock moving between two locations (models/transfers.py has the states and their stock effects).
stock_transfers = Table(
    "stock_transfers", metadata,
    Column("id", String(40), primary_key=True),
    Column("sku", String(64), ForeignKey("variants.sku", ondelete="CASCADE"), nullable=False, index=True),
    Column("from_location_id", String(40), ForeignKey("locations.id"), nullable=False),
    Column("to_location_id", String(40), ForeignKey("locations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("received_quantity", Integer, nullable=True),
    Column("status", String(20), nullable=False, server_default="requested"),
    Column("reference", String(100), nullable=True),
    _created(), _updated(),
    Column("shipped_at", DateTime(timezone=True), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    CheckConstraint("quantity > 0", name="quantity"),
    CheckConstraint("from_location_id <> to_location_id", name="distinct_locations"),
    CheckConstraint("received_quantity IS NULL OR received_quantity BETWEEN 0 AND quantity", name="received"),
    CheckConstraint("status IN ('requested','in_transit','received','cancelled')", name="status"),
)
Index("ix_stock_transfers_status_created_at", stock_transfers.c.status, stock_transfers.c.created_at)

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

# ---------------------------------------------------------------- customers
# A shopper (db/customers.py): created at checkout by email or at sign-up (then with an argon2 password hash).
# Erasure (GDPR/CCPA) anonymises the row in place and stamps erased_at; the id stays for the financial records.
customers = Table(
    "customers", metadata,
    Column("id", String(40), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200), nullable=True),
    Column("password_hash", Text, nullable=True),  # None: created by a guest checkout, no sign-in
    Column("marketing_consent", Boolean, nullable=False, server_default=text("false")),
    Column("erased_at", DateTime(timezone=True), nullable=True),
    _created(), _updated(),
)
# One record per address, whatever its case.
Index("uq_customers_lower_email", func.lower(customers.c.email), unique=True)

# One-time sign-in links mailed to a customer (a guest claiming their orders, or a forgotten password).
# Only the SHA-256 of the link's random token is kept: a database reader cannot sign in with it.
sign_in_links = Table(
    "sign_in_links", metadata,
    Column("id", String(80), primary_key=True),  # the sending workflow's id: one link per request
    Column("customer_id", String(40), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    _created(),
)

customer_addresses = Table(
    "customer_addresses", metadata,
    Column("id", String(40), primary_key=True),
    Column("customer_id", String(40), ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("address", JSONB, nullable=False),  # models.commerce.Address
    _created(),
)

# Saved payment methods, by the provider's reference only (never card data).
customer_payment_methods = Table(
    "customer_payment_methods", metadata,
    Column("customer_id", String(40), ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    Column("provider", String(30), primary_key=True),
    Column("provider_ref", String(200), primary_key=True),  # e.g. the Stripe customer holding the method
    Column("payment_method", String(200), nullable=True),
    _created(),
)


def _customer() -> Column:
    """Who a cart, order or subscription belongs to; None for rows made before customers existed."""
    return Column("customer_id", String(40), ForeignKey("customers.id"), nullable=True, index=True)


# ---------------------------------------------------------------- carts
carts = Table(
    "carts", metadata,
    Column("id", String(40), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("status", String(20), nullable=False, server_default="open"),
    Column("email", String(320), nullable=True),
    Column("checkout_id", String(40), nullable=True),  # the checkout holding the cart, if any
    # Pricing context: which price lists and promotions apply (db.pricing). customer_group is
    # set by trusted callers only; shoppers get groups through customer_group_members.
    Column("customer_group", String(50), nullable=True),
    Column("market", String(20), nullable=True),
    Column("channel", String(30), nullable=True),
    _customer(),
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

# Draft orders (db/draft_orders.py): support builds a cart for a customer (phone orders, invoices); the draft
# holds that cart, its quote and, once a checkout of it started, that checkout (models/draft_orders.py).
draft_orders = Table(
    "draft_orders", metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", String(20), nullable=False, server_default="open"),
    Column("cart_id", String(40), ForeignKey("carts.id"), nullable=False, unique=True),
    Column("email", String(320), nullable=False),
    Column("shipping_address", JSONB, nullable=False),
    Column("billing_address", JSONB, nullable=True),
    Column("shipping_speed", String(20), nullable=False),
    Column("quote_id", String(40), nullable=True),  # the latest quote of the cart (None until one answered)
    Column("invoiced_quote_id", String(40), nullable=True),  # the quote the invoice email stated
    Column("invoiced_total", BigInteger, nullable=True),
    Column("checkout_id", String(40), nullable=True),  # the checkout of the cart, once one started
    Column("order_id", String(40), nullable=True),
    Column("completion_key", String(255), nullable=True),  # the Idempotency-Key that started it through us
    Column("last_checkout_error", String(64), nullable=True),  # why the previous checkout failed
    Column("created_by", String(200), nullable=False),
    _created(), _updated(),
    CheckConstraint("status IN ('open','invoiced','completed','cancelled')", name="status"),
)

# ---------------------------------------------------------------- pricing & promotions
# One row (id 1), bumped in the same transaction as any price, price-list or promotion write;
# part of every computed-price cache key, so a committed change invalidates all processes.
pricing_version = Table(
    "pricing_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
    CheckConstraint("id = 1", name="single_row"),
)

customer_group_members = Table(
    "customer_group_members", metadata,
    Column("customer_group", String(50), primary_key=True),
    Column("email", String(320), primary_key=True, index=True),  # lower-cased
    _created(),
)

# Overrides of the base `prices` for a currency, optionally per customer group, market and period;
# the lowest applicable price wins (a list can only lower a price).
price_lists = Table(
    "price_lists", metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("customer_group", String(50), nullable=True),
    Column("market", String(20), nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("starts_at", DateTime(timezone=True), nullable=True),
    Column("ends_at", DateTime(timezone=True), nullable=True),
    _created(), _updated(),
)

price_list_prices = Table(
    "price_list_prices", metadata,
    Column("price_list_id", String(40), ForeignKey("price_lists.id", ondelete="CASCADE"), primary_key=True),
    Column("variant_id", String(40), ForeignKey("variants.id", ondelete="CASCADE"), primary_key=True),
    Column("amount", BigInteger, nullable=False),
    _updated(),
    CheckConstraint("amount >= 0", name="amount"),
)

promotions = Table(
    "promotions", metadata,
    Column("id", String(40), primary_key=True),
    Column("active", Boolean, nullable=False),  # kill switch, mirrored in `rule`
    Column("rule", JSONB, nullable=False),  # models.promotions.PromotionRule
    _created(), _updated(),
)

discount_codes = Table(
    "discount_codes", metadata,
    Column("code", String(64), primary_key=True),  # upper-cased
    Column("promotion_id", String(40), ForeignKey("promotions.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("usage_limit", Integer, nullable=True),
    Column("per_customer_limit", Integer, nullable=True),
    Column("uses", Integer, nullable=False, server_default="0"),
    _created(), _updated(),
    CheckConstraint("uses >= 0 AND (usage_limit IS NULL OR uses <= usage_limit)", name="uses"),
    CheckConstraint("usage_limit IS NULL OR usage_limit > 0", name="usage_limit"),
    CheckConstraint("per_customer_limit IS NULL OR per_customer_limit > 0", name="per_customer_limit"),
)

# One row per order that used a code: a replayed order creation never counts twice.
code_redemptions = Table(
    "code_redemptions", metadata,
    Column("code", String(64), ForeignKey("discount_codes.code", ondelete="CASCADE"), primary_key=True),
    Column("order_id", String(40), primary_key=True),
    Column("email", String(320), nullable=False),  # lower-cased, for per-customer limits
    _created(),
)
Index("ix_code_redemptions_code_email", code_redemptions.c.code, code_redemptions.c.email)

cart_discount_codes = Table(
    "cart_discount_codes", metadata,
    Column("cart_id", String(40), ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    Column("code", String(64), ForeignKey("discount_codes.code", ondelete="CASCADE"), primary_key=True),
    _created(),
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
    # The total the shopper agreed to (POST /checkouts quote_id or expected_total); None: no agreement asked.
    Column("quote_id", String(40), nullable=True),
    Column("expected_total", BigInteger, nullable=True),
    Column("error_details", JSONB, nullable=True),  # e.g. price_changed: the total the checkout computed
    Column("tax_exemption", JSONB, nullable=True),  # models.commerce.TaxExemption of a tax-exempt buyer
    _created(), _updated(),
    CheckConstraint("status IN ('pending','completed','failed')", name="status"),
)
# Backpressure counts in-flight checkouts on every new POST /checkouts: a small index-only scan.
Index("ix_checkouts_pending", checkouts.c.created_at, postgresql_where=text("status = 'pending'"))

# POST /carts/{id}/quote (db/quotes.py): the answer as given, reused while unexpired for the same fingerprint
# (priced cart, address, speed: models/quotes.py), and what POST /checkouts holds a checkout's total to.
quotes = Table(
    "quotes", metadata,
    Column("id", String(40), primary_key=True),
    Column("cart_id", String(40), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("body", JSONB, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    _created(),
)
Index("ix_quotes_cart_id_fingerprint", quotes.c.cart_id, quotes.c.fingerprint, quotes.c.expires_at)

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
    Column("tax_exemption", JSONB, nullable=True),  # sent again with the tax commit
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
    # The provider customer checkout saved the card for: later charges (re-authorization, an edit's new hold, an
    # exchange's difference) go through it. None for orders placed before cards were saved.
    Column("payment_customer_ref", String(200), nullable=True),
    # Whether the provider lets this authorization be captured in several parts (Stripe multicapture);
    # without it the first parcel captures the whole order (a partial single capture releases the rest).
    Column("multicapture", Boolean, nullable=False, server_default=text("false")),
    _customer(),
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
    Column("tax_code", String(25), nullable=True),  # what the sale was quoted with; the tax commit sends it again
    CheckConstraint("quantity > 0", name="quantity"),
)

# Promotions an order got; allocations (SKU -> amount) let a partial refund give discounts back.
order_promotions = Table(
    "order_promotions", metadata,
    Column("order_id", String(40), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True),
    Column("promotion_id", String(40), primary_key=True),
    Column("code", String(64), nullable=True),
    Column("amount", BigInteger, nullable=False),
    Column("free_shipping", Boolean, nullable=False, server_default=text("false")),
    Column("allocations", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
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
    Column("packed_at", DateTime(timezone=True), nullable=True),  # first marked packed (time-to-pack report)
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
    # authorize: the provider lets this authorization be captured in parts (replays must say the same).
    Column("multicapture", Boolean, nullable=False, server_default=text("false")),
    _created(),
    CheckConstraint("kind IN ('authorize','capture','void','refund','charge')", name="kind"),
    CheckConstraint("status IN ('pending','succeeded','failed')", name="status"),
    CheckConstraint("amount >= 0", name="amount"),
)

# The local card simulator's own memory (a stand-in for the provider's side, never read by our code):
# its payment intents and the first answer given under each idempotency key, so that it stays as
# strict as Stripe across worker restarts. Unused when a real payment provider is configured.
local_card_intents = Table(
    "local_card_intents", metadata,
    Column("id", String(60), primary_key=True),
    Column("kind", String(20), nullable=False),  # authorize (manual capture) | charge (captured at once)
    Column("reference", String(200), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(30), nullable=False),
    Column("amount_captured", BigInteger, nullable=False, server_default="0"),
    Column("amount_refunded", BigInteger, nullable=False, server_default="0"),
    Column("captures", Integer, nullable=False, server_default="0"),
    Column("multicapture_requested", Boolean, nullable=False, server_default=text("false")),
    Column("multicapture_available", Boolean, nullable=False, server_default=text("false")),
    _created(), _updated(),
    CheckConstraint("status IN ('requires_action','requires_capture','succeeded','canceled')", name="status"),
    CheckConstraint("amount_captured <= amount AND amount_refunded <= amount_captured", name="amounts"),
)

local_card_requests = Table(
    "local_card_requests", metadata,
    Column("idempotency_key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("intent_id", String(60), nullable=True),
    Column("answer", JSONB, nullable=False),  # the first answer: a result or a refusal
    _created(),
)

# The simulator's payment methods other than Stripe's test tokens (adapters/local/card_methods.py): the customer
# each is attached to, or whether a payment without a customer spent it (Stripe refuses it ever after).
local_card_methods = Table(
    "local_card_methods", metadata,
    Column("id", String(200), primary_key=True),
    Column("customer_ref", String(60), nullable=True),
    Column("spent", Boolean, nullable=False, server_default=text("false")),
    _created(), _updated(),
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
    CheckConstraint("role IN ('storefront','warehouse','catalog','support','ops','admin')", name="role"),
)

# Failed authentications (bad API keys, console sign-ins) per client address, in a fixed window that
# starts at the first failure: shared by every API process and kept across restarts. Only failures
# write here; a successful request only reads its address's row.
auth_failures = Table(
    "auth_failures", metadata,
    Column("client_address", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("window_started_at", DateTime(timezone=True), nullable=False, index=True),
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

# Browser sessions of the support console (api/routes/console.py): the cookie holds a random
# token, stored here only as its SHA-256; the session lives no longer than its API key.
console_sessions = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("key_id", String(40), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),  # sent back in every form; useless without the cookie
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# ---------------------------------------------------------------- subscriptions
# The workflow (id ``subscription-<id>``) owns the state; it records every change here, newest
# ``state_version`` wins, so the API reads a current view without querying the workflow.
# Admin-defined subscription plans: the only source of a subscription's discount (a storefront names a
# plan, never an amount). A plan is never deleted (subscriptions point at it); deactivating it stops sign-ups.
subscription_plans = Table(
    "subscription_plans", metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("intervals", JSONB, nullable=False),  # the Interval values a subscriber may choose
    Column("discount_bp", Integer, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    _created(), _updated(),
    CheckConstraint("discount_bp BETWEEN 0 AND 10000", name="discount_bp"),
)

subscriptions = Table(
    "subscriptions", metadata,
    Column("id", String(40), primary_key=True),
    Column("idempotency_key", String(255), nullable=False, unique=True),
    Column("request_hash", String(64), nullable=False),
    Column("workflow_id", String(200), nullable=False),
    Column("email", String(320), nullable=False, index=True),
    Column("currency", String(3), nullable=False),
    Column("payment_provider", String(30), nullable=True),
    Column("customer_ref", String(200), nullable=True),  # provider customer holding the saved method
    Column("payment_method", String(200), nullable=False),
    Column("shipping_address", JSONB, nullable=False),
    Column("lines", JSONB, nullable=False),  # [{sku, quantity}]
    Column("interval", String(20), nullable=False),
    Column("every_n_days", Integer, nullable=True),
    Column("anchor_date", Date, nullable=False),
    # Copied from the plan at sign-up and kept: a plan's later change applies to new subscriptions only.
    Column("discount_bp", Integer, nullable=False, server_default="0"),
    Column("plan_id", String(40), ForeignKey("subscription_plans.id"), nullable=True),
    Column("status", String(20), nullable=False, server_default="active"),
    Column("next_renewal_at", DateTime(timezone=True), nullable=True),
    Column("paused_until", DateTime(timezone=True), nullable=True),
    Column("skip_next", Boolean, nullable=False, server_default=text("false")),
    Column("cancel_at_period_end", Boolean, nullable=False, server_default=text("false")),
    Column("cancel_reason", String(60), nullable=True),
    Column("dunning", JSONB, nullable=True),  # models.subscriptions.DunningState while a charge is being retried
    Column("state_version", BigInteger, nullable=False, server_default="0"),
    _customer(),
    _created(), _updated(),
    CheckConstraint("status IN ('active','paused','past_due','cancelled')", name="status"),
    CheckConstraint("interval IN ('weekly','monthly','every_n_days')", name="interval"),
    CheckConstraint("(interval = 'every_n_days') = (every_n_days IS NOT NULL)", name="every_n_days"),
    CheckConstraint("discount_bp BETWEEN 0 AND 10000", name="discount_bp"),
)

# One order per renewal cycle at most: the primary key is the duplicate guard.
subscription_orders = Table(
    "subscription_orders", metadata,
    Column("subscription_id", String(40), ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
    Column("cycle", Integer, primary_key=True),
    Column("order_id", String(40), ForeignKey("orders.id"), nullable=False, unique=True),
    Column("renewal_date", Date, nullable=False),
    _created(),
)

# What happened to a subscription (created, renewed, payment_failed, paused, ...), keyed by business event id.
subscription_events = Table(
    "subscription_events", metadata,
    Column("subscription_id", String(40), ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
    Column("event_id", String(100), primary_key=True),
    Column("seq", BigInteger, Identity(), nullable=False),  # display order only
    Column("type", String(60), nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    _created(),
)

# ---------------------------------------------------------------- fraud screening and cart recovery
# One screening per checkout (the key makes a retried activity a no-op); velocity counts read it back.
fraud_screenings = Table(
    "fraud_screenings", metadata,
    Column("checkout_id", String(40), primary_key=True),
    Column("email", String(320), nullable=False),  # lower-cased
    Column("payment_method", String(200), nullable=False),
    Column("client_ip", String(64), nullable=True),
    Column("total", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("score", Integer, nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("reasons", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # review outcome, for outcome = 'review': approved | rejected | timed_out
    Column("review", String(20), nullable=True),
    Column("reviewer", String(200), nullable=True),
    Column("review_note", Text, nullable=True),
    Column("reviewed_at", DateTime(timezone=True), nullable=True),
    _created(),
    CheckConstraint("score BETWEEN 0 AND 100", name="score"),
    CheckConstraint("outcome IN ('approve','review','reject')", name="outcome"),
    CheckConstraint("review IS NULL OR review IN ('approved','rejected','timed_out')", name="review"),
)
Index("ix_fraud_screenings_email_created", fraud_screenings.c.email, fraud_screenings.c.created_at)
Index("ix_fraud_screenings_payment_method_created", fraud_screenings.c.payment_method, fraud_screenings.c.created_at)
Index("ix_fraud_screenings_client_ip_created", fraud_screenings.c.client_ip, fraud_screenings.c.created_at)
Index("ix_fraud_screenings_created", fraud_screenings.c.created_at)

# Abandoned-cart reminders sent, one row per (cart, reminder number): a retried send never mails twice.
cart_reminders = Table(
    "cart_reminders", metadata,
    Column("cart_id", String(40), ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    Column("reminder", Integer, primary_key=True),  # 1, 2, 3, ...
    Column("recipient", String(320), nullable=False),
    Column("message_id", String(300), nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("reminder > 0", name="reminder"),
)
Index("ix_cart_reminders_sent_at", cart_reminders.c.sent_at)

# Addresses that get no marketing email (db/suppressions.py): one row per normalised address, kept for good.
email_suppressions = Table(
    "email_suppressions", metadata,
    Column("email", String(320), primary_key=True),  # models.unsubscribe.normalise_email: trimmed, lowercased
    Column("reason", String(40), nullable=False),  # unsubscribed, ...
    Column("source", String(40), nullable=False),  # one_click (RFC 8058), unsubscribe_page, ...
    _created(),
)

# Reports (db/reports.py) scan these by day.
Index("ix_orders_created_at", orders.c.created_at)
# Order search (GET /orders, the console): a customer's orders or the orders in a state, newest first.
Index("ix_orders_lower_email_created_at", func.lower(orders.c.email), orders.c.created_at)
Index("ix_orders_status_created_at", orders.c.status, orders.c.created_at)
Index("ix_subscriptions_lower_email_created_at", func.lower(subscriptions.c.email), subscriptions.c.created_at)
Index("ix_carts_created_at", carts.c.created_at)
Index("ix_refunds_created_at", refunds.c.created_at)
Index("ix_order_events_type_created_at", order_events.c.type, order_events.c.created_at)

# Reconciliation runs (db/reconciliation.py): the last one is GET /reports/reconciliation.
reconciliation_runs = Table(
    "reconciliation_runs", metadata,
    Column("run_id", String(200), primary_key=True),  # the Temporal workflow id of the run
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("checked", Integer, nullable=False),
    Column("settled", Integer, nullable=False),
    Column("voided", Integer, nullable=False),
    Column("unsettled", Integer, nullable=False),
    Column("items", JSONB, nullable=False),
)
Index("ix_reconciliation_runs_finished_at", reconciliation_runs.c.finished_at)

# Ops alert digests (db/ops_alerts.py, workflows/ops_alerts.py): each item is mailed to OPS_ALERT_EMAIL once.
# A digest is keyed by its workflow id, so a retried activity resends the same items, never new ones twice.
ops_alert_digests = Table(
    "ops_alert_digests", metadata,
    Column("id", String(200), primary_key=True),  # the digest workflow's id
    Column("items", JSONB, nullable=False),  # [{kind, key, summary, since}]
    Column("message_id", String(300), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    _created(),
)

ops_alert_notices = Table(
    "ops_alert_notices", metadata,
    Column("kind", String(40), primary_key=True),  # parcel_alert, fraud_review_waiting, low_stock, ...
    Column("key", String(200), primary_key=True),  # what the alert is about, e.g. shipment id + alert
    Column("digest_id", String(200), ForeignKey("ops_alert_digests.id", ondelete="CASCADE"), nullable=False),
    _created(),
)
