"""The embedded emulator of the Kore.ai user-management API, with fault injection (``bulkprov mock-server``).

``config`` (settings, faults, the demo seed), ``directory`` (rate windows, per-user refusals, roles,
bots and groups), ``server`` (the aiohttp app and its request pipeline), ``running`` (a background
thread for tests, and the command's server).  See :mod:`bulkprov.emulator.server` for the fault order.
"""

from bulkprov.emulator.config import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    RATE_MESSAGE,
    RATE_REFUSAL_STYLES,
    EmulatorConfig,
    demo_seed,
)
from bulkprov.emulator.running import EmulatorThread, run_server
from bulkprov.emulator.server import Emulator

__all__ = ["DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "RATE_MESSAGE", "RATE_REFUSAL_STYLES", "Emulator", "EmulatorConfig",
           "EmulatorThread", "demo_seed", "run_server"]
