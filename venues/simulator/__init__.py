"""The loopback exchange simulator: a local server that speaks Binance spot REST and WebSocket.

It answers the subset of Binance's spot API that venues/binance uses, with the
same paths, parameters, signature checks, payload shapes, error codes and weight
headers, for one account whose orders a matching engine fills against market data
replayed from the lake or the sample generator; and it can be told to misbehave
(faults.py). The demo's paper session and the end-to-end tests run the real
Binance adapter against it, with no internet and no keys (DESIGN.md §7).

Modules: server.py (run_simulator, Simulator), rest.py (endpoints), streams.py
(WebSockets), auth.py (signatures, timestamps), limits.py (weights), engine.py
(matching, balances), market.py (bars to trades and klines), replay.py (pacing),
clock.py (simulated server time), faults.py, wire.py (payload shapes), errors.py.
"""

from venues.simulator.config import (
    COMMISSION_ASSETS,
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    SimulatorConfig,
    SymbolSpec,
)
from venues.simulator.faults import (
    FaultConfigError,
    FaultPlan,
    FaultRule,
    load_fault_plan,
    parse_fault_spec,
)
from venues.simulator.market import SimulatorDataError
from venues.simulator.server import Simulator, run_simulator

__all__ = [
    "COMMISSION_ASSETS",
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "FaultConfigError",
    "FaultPlan",
    "FaultRule",
    "Simulator",
    "SimulatorConfig",
    "SimulatorDataError",
    "SymbolSpec",
    "load_fault_plan",
    "parse_fault_spec",
    "run_simulator",
]
