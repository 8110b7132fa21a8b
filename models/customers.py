"""Customer accounts: what a storefront sends and gets back, and password hashing (argon2id).

Hashing is CPU work with no I/O; routes run it in a thread so the event loop keeps serving.
"""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from models.commerce import Address

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the email is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such customer")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class SignUp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(min_length=10, max_length=200)
    name: str | None = Field(None, max_length=200)
    marketing_consent: bool = False


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)


class SignInLinkAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: EmailStr


class SignInLinkRedeem(BaseModel):
    """The token from the mailed link; ``password`` (optional) becomes the account's password: how a guest
    claims their account, and how a forgotten password is reset."""
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=20, max_length=200)
    password: str | None = Field(None, min_length=10, max_length=200)


class CustomerOut(BaseModel):
    id: str
    email: str
    name: str | None
    marketing_consent: bool


class Session(BaseModel):
    """What sign-up and sign-in answer: the storefront keeps the token for the shopper's session."""

    customer: CustomerOut
    customer_token: str = Field(description="Send as `X-Customer-Token` to act for this customer")
    expires_in: int = Field(description="Seconds the token stays valid")


class SavedAddress(Address):
    id: str


__all__ = ["Address", "CustomerOut", "SavedAddress", "Session", "SignIn", "SignUp"]
