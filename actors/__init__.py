"""The actor runtime and the seven trading actors, and the message catalog they share.

Actors are synchronous state machines (``actor.py``) that exchange the frozen
msgspec messages of ``messages.py`` over a bus (``bus.py``); a deterministic
scheduler (``scheduler.py``) and a supervised live one (``supervisor.py``) run
them on a simulated or wall clock (``clock.py``). Strategies and venues are
reached only through the Protocols of ``ports.py``.
"""
