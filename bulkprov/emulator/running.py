"""Running the emulator from sync code (a background thread) and from the command line."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Any

from bulkprov.emulator.config import DEMO_CLIENT_SECRET, EmulatorConfig
from bulkprov.emulator.server import Emulator

# --------------------------------------------------------------------------------------------
# Running it from sync code and from the command line
# --------------------------------------------------------------------------------------------

class EmulatorThread:
    """Runs an :class:`Emulator` on its own event loop in a daemon thread (for sync code, subprocess
    and CLI tests).  Use as a context manager: ``with EmulatorThread(cfg) as emu: emu.url``."""

    def __init__(self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.emulator = Emulator(config)
        self.host, self.port = host, port
        self.url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorThread:
        loop = asyncio.new_event_loop()
        self._loop = loop
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.url = loop.run_until_complete(self.emulator.start(self.host, self.port))
            except BaseException as exc:  # reported to the starting thread below
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.emulator.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="bulkprov-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Run on the emulator's loop so reads and writes never race a request handler.
        assert self._loop is not None, "the emulator thread is not running"

        async def call() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(30)

    def state(self) -> dict[str, Any]:
        """A thread-safe deep copy of the admin state (same as ``GET /_admin/state``)."""
        return self._call(self.emulator.snapshot)

    def reconfigure(self, **changes: Any) -> None:
        self._call(self.emulator.reconfigure, **changes)

    def reset(self) -> None:
        self._call(self.emulator.reset)


def run_server(port: int, host: str = "127.0.0.1", config: EmulatorConfig | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM (``bulkprov mock-server --port N``); prints one line with the URL."""
    try:
        asyncio.run(_serve(port, host, config or EmulatorConfig()))
    except KeyboardInterrupt:
        pass


async def _serve(port: int, host: str, config: EmulatorConfig) -> None:
    emulator = Emulator(config)
    url = await emulator.start(host, port)
    source = ("the built-in demo secret (bulkprov.emulator.DEMO_CLIENT_SECRET)"
              if config.client_secret == DEMO_CLIENT_SECRET else "the client_secret of the seed file")
    print(f"bulkprov mock server listening on {url} - client id {config.client_id}, client secret: {source}",
          flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, done.set)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            pass
    try:
        await done.wait()
    finally:
        await emulator.stop()

