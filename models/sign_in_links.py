"""One-time sign-in links by email (pure: no I/O, no clock, no randomness).

A shopper who checked out as a guest has a customer record without a password; a password sign-up
under that email is refused (it would hand their orders to whoever typed the address). Proof of the
mailbox is what claims them: a link with a random token goes to the address, and redeeming it signs the
shopper in (and may set a password). The token is never stored or logged, only its SHA-256, and it
never enters a workflow history: the activity that mails it draws it.
"""

import hashlib
from html import escape
from urllib.parse import urlencode

from pydantic import Field

from models.base import Frozen
from models.notifications import EmailMessage

LINK_TTL_MINUTES = 30


class SignInLinkRequest(Frozen):
    """What the sending workflow carries: whom to mail, never the token."""
    link_id: str = Field(min_length=1, max_length=80)
    customer_id: str = Field(min_length=1, max_length=40)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def sign_in_url(page: str, token: str) -> str:
    return f"{page}{'&' if '?' in page else '?'}{urlencode({'token': token})}"


def sign_in_link_email(*, to: str, link_id: str, url: str) -> EmailMessage:
    text = (f"Someone (we hope you) asked to sign in to your account.\n\nSign in: {url}\n\n"
            f"The link works once, within {LINK_TTL_MINUTES} minutes. If it was not you, ignore this email.\n")
    html = (f"<p>Someone (we hope you) asked to sign in to your account.</p>"
            f"<p><a href=\"{escape(url)}\">Sign in</a></p>"
            f"<p>The link works once, within {LINK_TTL_MINUTES} minutes. If it was not you, ignore this email.</p>")
    return EmailMessage(to=to, subject="Your sign-in link", text=text, html=html,
                        idempotency_key=f"{link_id}:sign_in_link")
