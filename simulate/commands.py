"""``orderflow simulate deliver|tracking|3ds|dispute|refund-failed|carrier``, in the spirit of
``stripe trigger``: each prints what it sent and what the API answered. Development only."""

import argparse
import asyncio
import sys

import httpx

from adapters.local.shipping import EASYPOST_STATUSES
from config import Settings, get_settings
from models.errors import DomainError

# Which local stand-in each command plays: it must be the one the stack uses.
PLAYS = {"deliver": "shipping", "tracking": "shipping", "carrier": "shipping", "3ds": "payment",
         "dispute": "payment", "refund-failed": "payment"}


def register_simulate_commands(subparsers) -> None:
    """Add ``simulate`` to the ``orderflow`` parser; the action lands in ``args.run(args, database_url)``."""
    simulate = subparsers.add_parser(
        "simulate", help="play the carrier and the card network on the dev stack (signed webhooks)",
        description="Send the webhooks EasyPost and Stripe would send, signed, to the dev stack's API. "
                    "Refused outside ENVIRONMENT=development.")
    actions = simulate.add_subparsers(dest="simulate_command", required=True, metavar="ACTION")
    deliver = actions.add_parser("deliver", help="the local carrier delivers a parcel")
    deliver.add_argument("shipment_id")
    tracking = actions.add_parser("tracking", help="the local carrier reports a tracking status")
    tracking.add_argument("shipment_id")
    tracking.add_argument("status", choices=EASYPOST_STATUSES, metavar="STATUS",
                          help=f"an EasyPost tracking status: {', '.join(EASYPOST_STATUSES)}")
    three_ds = actions.add_parser("3ds", help="the card holder completes or fails a 3-D Secure challenge")
    three_ds.add_argument("checkout_id")
    _one_of(three_ds, "outcome", ("succeed", "fail"))
    dispute = actions.add_parser("dispute", help="the bank opens a dispute on an order's charge, or closes it")
    dispute.add_argument("order_id")
    _one_of(dispute, "action", ("open", "won", "lost"))
    refund = actions.add_parser("refund-failed", help="the order's latest refund bounces (refund.failed)")
    refund.add_argument("order_id")
    actions.add_parser("carrier", help="report tracking of shipped local parcels on LOCAL_CARRIER_SCHEDULE "
                                       "(orderflow dev runs it)")
    simulate.set_defaults(run=_run)


def _one_of(parser: argparse.ArgumentParser, dest: str, choices: tuple[str, ...]) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    for choice in choices:
        group.add_argument(f"--{choice}", dest=dest, action="store_const", const=choice)


def refusal(settings: Settings, command: str) -> str | None:
    """Why this command must not run here, or None."""
    if settings.environment != "development":
        return f"refused: ENVIRONMENT={settings.environment}; the simulator plays providers in development only"
    port = PLAYS[command]
    if getattr(settings, f"{port}_backend") != "local":
        return (f"refused: {port.upper()}_BACKEND is {getattr(settings, f'{port}_backend')}; the simulator only "
                f"plays the local {port} stand-in (use the provider's own test tools)")
    return None


def _run(args: argparse.Namespace, database_url: str) -> int:
    settings = get_settings()
    if (why := refusal(settings, args.simulate_command)) is not None:
        print(f"orderflow simulate: {why}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_act(args, settings, database_url))
    except (DomainError, LookupError) as error:
        print(f"orderflow simulate: {getattr(error, 'message', error)}", file=sys.stderr)
        return 1
    except httpx.TransportError as error:
        print(f"orderflow simulate: the API did not answer ({type(error).__name__}); is `orderflow dev` running?",
              file=sys.stderr)
        return 1


async def _act(args: argparse.Namespace, settings: Settings, database_url: str) -> int:
    from db.engine import make_engine
    from devstack import running_api_url, running_webhook_secrets
    from simulate.carrier import run_carrier
    from simulate.webhooks import WebhookSender
    from simulate.world import Simulator

    secrets = running_webhook_secrets(settings)
    engine = make_engine(database_url, pool_size=2)
    try:
        async with httpx.AsyncClient(base_url=running_api_url(settings), timeout=30) as http:
            sender = WebhookSender(http, stripe_secret=secrets["stripe"], easypost_secret=secrets["easypost"])
            if args.simulate_command == "carrier":
                await run_carrier(engine, sender, settings.local_carrier_schedule)
            sent = await _one_action(Simulator(engine, sender), args)
    finally:
        await engine.dispose()
    for delivery in sent:
        print(delivery)
    return 0 if all(delivery.accepted for delivery in sent) else 1


async def _one_action(simulator, args: argparse.Namespace):
    command = args.simulate_command
    if command == "deliver":
        return await simulator.deliver(args.shipment_id)
    if command == "tracking":
        return await simulator.tracking(args.shipment_id, args.status)
    if command == "3ds":
        return await simulator.three_d_secure(args.checkout_id, succeed=args.outcome == "succeed")
    if command == "dispute":
        return await simulator.dispute(args.order_id, args.action)
    return await simulator.refund_failed(args.order_id)
