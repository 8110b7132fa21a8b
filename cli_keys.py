"""``orderflow keys create|list|revoke``: API key management from a shell, audited as "cli".

The secret of a new key goes alone to stdout (``KEY=$(orderflow keys create …)`` works);
everything else goes to stderr.
"""

import argparse
import asyncio
import functools
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from models.auth import CLI_CALLER, ROLES
from models.errors import DomainError
from services import api_keys


def register_key_commands(subparsers) -> None:
    """Add ``keys`` to the ``orderflow`` parser; the chosen action lands in ``args.run(args, database_url)``."""
    keys = subparsers.add_parser("keys", help="create, list and revoke API keys",
                                 description="Create, list and revoke API keys on DATABASE_URL.")
    actions = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="who or what uses the key, e.g. 'web storefront'")
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="list keys (never their secrets)")
    listing.set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    revoke.add_argument("--reason", default="")
    revoke.set_defaults(run=_revoke)


def _with_engine(database_url: str, work: Callable[[AsyncEngine], Awaitable]):
    """Run one handler of services/api_keys.py (the admin API's too) on DATABASE_URL."""
    from db.engine import make_engine

    async def run():
        engine = make_engine(database_url, pool_size=1)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _friendly(command: Callable[[argparse.Namespace, str], int]) -> Callable[[argparse.Namespace, str], int]:
    """Unknown key, bad name: one line on stderr and exit status 1, not a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace, database_url: str) -> int:
        try:
            return command(args, database_url)
        except DomainError as error:
            print(f"orderflow keys: {error.message}", file=sys.stderr)
            return 1

    return run


@_friendly
def _create(args: argparse.Namespace, database_url: str) -> int:
    key, secret = _with_engine(database_url, lambda engine: api_keys.create_key(
        engine, api_keys.CreateKey(name=args.name, role=args.role, caller=CLI_CALLER)))
    print(f"created {key.id} ({key.role}) {key.name!r}; the secret below is shown only once:", file=sys.stderr)
    print(secret)
    return 0


def _list(args: argparse.Namespace, database_url: str) -> int:
    keys = _with_engine(database_url, api_keys.list_keys)
    print(f"{'ID':<31} {'ROLE':<10} {'CREATED':<20} {'LAST USED':<20} {'REVOKED':<20} NAME")
    for key in keys:
        print(f"{key.id:<31} {key.role:<10} {_when(key.created_at):<20} {_when(key.last_used_at):<20} "
              f"{_when(key.revoked_at):<20} {key.name}")
    return 0


@_friendly
def _revoke(args: argparse.Namespace, database_url: str) -> int:
    key = _with_engine(database_url, lambda engine: api_keys.revoke_key(
        engine, api_keys.RevokeKey(key_id=args.key_id, caller=CLI_CALLER, reason=args.reason)))
    print(f"revoked {key.id} ({key.role}) {key.name!r} at {_when(key.revoked_at)}", file=sys.stderr)
    return 0


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"
