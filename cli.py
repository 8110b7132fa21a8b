"""The ``orderflow`` command: the local dev stack and the production entrypoints."""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable

from config import Settings, get_settings
from logging_setup import configure_logging


def _database_url(settings: Settings) -> str:
    """DATABASE_URL, else the embedded database of a running ``orderflow dev``."""
    from devstack import running_database_url

    url = settings.database_url or running_database_url(settings)
    if not url:
        raise SystemExit("DATABASE_URL is not set and no `orderflow dev` stack is running")
    return url


def cmd_dev(settings: Settings) -> int:
    from devstack import run

    return run(settings)


def cmd_migrate(settings: Settings) -> int:
    from db.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade(_database_url(settings))
    print("database migrated to head")
    return 0


def cmd_seed(settings: Settings) -> int:
    from db.engine import make_engine
    from db.seed import seed_demo_catalog

    async def seed() -> bool:
        engine = make_engine(_database_url(settings), pool_size=1)
        try:
            async with engine.begin() as conn:
                return await seed_demo_catalog(conn)
        finally:
            await engine.dispose()

    print("demo catalog seeded" if asyncio.run(seed()) else "demo catalog already present")
    return 0


def cmd_worker(settings: Settings) -> int:
    from worker import run_workers

    return run_workers(settings, settings.worker_processes)


def cmd_api(settings: Settings) -> int:
    import uvicorn

    # log_config=None keeps our structlog setup for uvicorn's loggers too. Proxy headers are read
    # by the app itself (TRUSTED_PROXIES), so every way of serving it trusts the same peers.
    uvicorn.run("api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port,
                log_config=None, proxy_headers=False)
    return 0


COMMANDS: dict[str, tuple[Callable[[Settings], int], str]] = {
    "dev": (cmd_dev, "run the whole local stack: PostgreSQL, Temporal, worker and API"),
    "migrate": (cmd_migrate, "apply database migrations (alembic upgrade head) on DATABASE_URL"),
    "seed": (cmd_seed, "insert the demo catalog (once) into DATABASE_URL"),
    "worker": (cmd_worker, "run the Temporal worker"),
    "api": (cmd_api, "serve the HTTP API (uvicorn) on API_HOST:API_PORT"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderflow", description="Durable order pipeline for online stores.",
                                     epilog="Configuration comes from the environment (see config.py).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {name: sub.add_parser(name, help=help_text, description=help_text)
               for name, (_, help_text) in COMMANDS.items()}
    parsers["worker"].add_argument("--processes", type=_positive, metavar="N", help="worker processes, each with "
                                   "its own event loop and Temporal client (default: WORKER_PROCESSES, 1)")
    from db.key_commands import register_key_commands

    register_key_commands(sub)  # `keys create|list|revoke`: they take arguments, so they set args.run
    from simulate.commands import register_simulate_commands

    register_simulate_commands(sub)  # `simulate deliver|tracking|3ds|dispute|…`: the outside world in development
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    if getattr(args, "processes", None):
        settings = settings.model_copy(update={"worker_processes": args.processes})
    configure_logging(settings.log_level, settings.log_json)
    if hasattr(args, "run"):
        code = args.run(args, _database_url(settings))
    else:
        handler, _ = COMMANDS[args.command]
        code = handler(settings)
    if argv is None:  # the console script, not a caller in this process
        exit_now(code)
    return code


def exit_now(code: int) -> None:
    """Exit without interpreter finalization, which the Temporal SDK's Rust threads can abort
    ("PyGILState_Release ... must be current", temporalio/sdk-python#300). Cleanup already ran."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
