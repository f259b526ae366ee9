"""Logins that hold under attack: attempts counted before the password check, a bounded checker, client addresses.

* :class:`LoginThrottle` counts an attempt *when it arrives*, before the password is checked (an
  attempt in flight counts), per client address and per user name.  The first ``free`` failures of
  a key in ``window`` seconds cost nothing; after that each further failure doubles the wait
  (``base`` × 2^n, capped at ``window``) and only one attempt of that key may be in flight at a
  time.  A success clears only the failures of the user who logged in: the address keeps its
  count, so one user's good login never buys another user's password more guesses.
* :class:`PasswordChecker` runs scrypt in a small executor of its own with a bounded queue: when it
  is full a login is refused at once (503) instead of queueing, so nothing a logged-out client sends
  can slow the threads the logged-in pages use.
* :func:`client_address` honours ``X-Forwarded-For`` only from the configured trusted proxies.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


@dataclass
class _Key:
    failures: list[float] = field(default_factory=list)
    in_flight: int = 0


@dataclass
class Ticket:
    """An admitted attempt: hand it back to :meth:`LoginThrottle.finish`."""

    keys: tuple[str, ...]
    user_key: str


class LoginThrottle:
    """Per-address and per-user attempt counting with exponential back-off (see the module docstring)."""

    def __init__(self, *, address_free: int = 10, user_free: int = 5, base: float = 2.0, window: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free = {"addr": address_free, "user": user_free}
        self.base, self.window, self.clock = base, window, clock
        self._keys: dict[str, _Key] = {}

    def _key(self, name: str) -> _Key:
        key = self._keys.setdefault(name, _Key())
        now = self.clock()
        key.failures = [t for t in key.failures if now - t < self.window]
        return key

    def wait(self, name: str) -> float:
        """Seconds before the next attempt of this key may be evaluated (0: now)."""
        key = self._key(name)
        free = self.free[name.split(":", 1)[0]]
        if len(key.failures) + key.in_flight < free:
            return 0.0
        if key.in_flight:  # past the free attempts: one at a time, so parallel guesses queue up nowhere
            return self.base
        over = len(key.failures) - free
        delay = min(self.window, self.base * 2 ** max(0, over))
        return max(0.0, key.failures[-1] + delay - self.clock())

    def begin(self, address: str, user: str) -> Ticket | float:
        """Admit an attempt (a :class:`Ticket`) or say how many seconds to wait.  No await inside:
        the check and the count happen in one step of the event loop, so parallel requests cannot
        slip between them."""
        keys = (f"addr:{address}", f"user:{user.casefold()}")
        waits = [self.wait(k) for k in keys]
        if max(waits) > 0:
            return max(waits)
        for k in keys:
            self._key(k).in_flight += 1
        return Ticket(keys, keys[1])

    def cancel(self, ticket: Ticket) -> None:
        """The attempt was never evaluated (the checker was busy): it costs nothing."""
        for name in ticket.keys:
            key = self._key(name)
            key.in_flight = max(0, key.in_flight - 1)

    def finish(self, ticket: Ticket, ok: bool) -> None:
        now = self.clock()
        for name in ticket.keys:
            key = self._key(name)
            key.in_flight = max(0, key.in_flight - 1)
            if not ok:
                key.failures.append(now)
        if ok:
            self._keys.pop(ticket.user_key, None)  # only this user's failures: the address keeps its count
        self._forget_idle()

    def _forget_idle(self) -> None:
        if len(self._keys) < 50_000:
            return
        now = self.clock()
        for name in [n for n, k in self._keys.items() if not k.in_flight and
                     all(now - t >= self.window for t in k.failures)]:
            del self._keys[name]


class CheckerBusy(Exception):
    """The password checker's queue is full: refuse the login now rather than queue it."""


class PasswordChecker:
    """A dedicated executor with a bounded queue for the expensive password checks."""

    def __init__(self, workers: int = 1, queue: int = 8) -> None:
        self.capacity = workers + queue
        self.pending = 0
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bulkprov-login")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.pending >= self.capacity:
            raise CheckerBusy()
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            self.pending -= 1

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def parse_networks(entries: list[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8"]`` → networks; ValueError names a bad entry."""
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries)


def _in(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(request: web.BaseRequest, trusted: tuple[Any, ...]) -> str:
    """The client's address: the peer, or — when the peer is a trusted proxy — the right-most address of
    ``X-Forwarded-For`` that is not itself a trusted proxy (the left part is whatever the client wrote)."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    address = str(peer[0]) if peer else (request.remote or "?")
    if not trusted or not _in(address, trusted):
        return address
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return address  # garbage from the client: fall back to the proxy's own address
    return address
