"""What every provider's simulator shares: an aiohttp application served on a socket bound when
the simulator is made (so its ``url`` is known, and connections queue, before it serves), either
from a background thread (``start``/``stop``, or ``with``; tests and benches) or in the
foreground until Ctrl-C (``serve_in_foreground``; its ``manage.py <provider>_simulator``).

A provider's simulator subclasses ``SimulatorServer``, calls ``bind`` in its ``__init__`` and
gives ``application``; ``on_start``/``on_stop`` open and close what its handlers use. One that
calls the service back (status callbacks, webhooks) opens ``open_callbacks`` there and runs
each call with ``later``. Its ``manage.py <provider>_simulator`` is a ``SimulatorCommand``.
"""

import argparse
import asyncio
import base64
import binascii
import socket
import threading
from dataclasses import dataclass

from aiohttp import ClientSession, ClientTimeout, web
from django.core.management.base import BaseCommand


@dataclass
class Fault:
    """A forced answer to a coming call: a provider's error code (with its HTTP status), an
    HTTP status alone, or a dropped connection (the call is carried out, then the connection
    closes with no answer)."""

    code: int | None = None
    status: int | None = None
    drop: bool = False


class SimulatorServer:
    """A provider's simulator keeps ``lock`` and, for ``inject``, a deque of ``faults`` that its
    handlers take from."""

    thread_name = "simulator"
    runner_options: dict = {}

    def bind(self, host: str, port: int) -> None:
        self._socket = socket.create_server((host, port))
        self.server_address = self._socket.getsockname()[:2]
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def application(self) -> web.Application:
        raise NotImplementedError

    def inject(self, *, code=None, status=None, drop=False, times: int = 1) -> None:
        """The next ``times`` calls that can fail answer error ``code``, or HTTP ``status``, or
        are carried out and left unanswered (``drop``)."""
        with self.lock:
            self.faults.extend(Fault(code, status, drop) for _ in range(times))

    async def on_start(self) -> None:
        """Before serving, on the serving loop."""

    async def on_stop(self) -> None:
        """After serving, before the application is cleaned up."""

    async def open_callbacks(self, timeout: float) -> None:
        """The client session callbacks go through (the provider waits ``timeout`` seconds
        for an answer) and the set of callbacks under way; from ``on_start``."""
        self._session = ClientSession(timeout=ClientTimeout(total=timeout))
        self._tasks: set[asyncio.Task] = set()

    async def close_callbacks(self) -> None:
        """Cancel the callbacks under way and close the session; from ``on_stop``."""
        for task in list(self._tasks):
            task.cancel()
        await self._session.close()

    def later(self, coroutine) -> None:
        """Run ``coroutine`` (a callback) on the serving loop, without waiting for it."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def basic_auth(request: web.Request) -> tuple[str, str] | None:
        """The (user, password) of a request's HTTP basic auth; None without one."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def start(self):
        """Serve from a background thread; returns once it is serving."""
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        self._ready.wait()
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                loop.call_soon_threadsafe(self._stop_requested.set)
            except RuntimeError:
                pass  # the loop has just finished on its own
            thread.join(timeout=5)
        self._socket.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self.serve())
        finally:
            self._ready.set()  # start() must not wait forever if serving failed

    async def serve(self) -> None:
        """Serve until stop() (or, in the foreground, Ctrl-C cancels this)."""
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        await self.on_start()
        runner = web.AppRunner(
            self.application(), access_log=None, handle_signals=False, **self.runner_options
        )
        await runner.setup()
        await web.SockSite(runner, self._socket).start()
        self._ready.set()
        try:
            await self._stop_requested.wait()
        finally:
            await self.on_stop()
            await runner.cleanup()

    def serve_in_foreground(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        try:
            asyncio.run(self.serve())
        except KeyboardInterrupt:
            pass
        finally:
            self._socket.close()


class SimulatorCommand(BaseCommand):
    """``manage.py <provider>_simulator``: a provider's simulator module (``provider``) gives
    ``build_parser``, ``from_options`` and ``serve``; the command gives them its options."""

    provider = None  # the provider's simulator module
    requires_system_checks = []

    def add_arguments(self, parser):
        self.provider.build_parser(parser)

    def handle(self, *args, **options):
        def write(line):
            # At once, also into a pipe or a file: whoever started it reads its address there.
            self.stdout.write(line)
            self.stdout.flush()

        simulator = self.provider.from_options(
            argparse.Namespace(**options), log=None if options["quiet"] else write
        )
        self.provider.serve(simulator, write=write)
