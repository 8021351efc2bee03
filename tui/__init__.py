"""The Textual terminal UI that supervises and controls a session.

It owns what the operator sees and presses: ``DeskApp`` (``tui.app``) with its six
screens (overview, orders, market, SQL, backtests, journal; ``tui.screens``) and
their widgets (``tui.widgets``), the ``DeskView`` it draws from (``tui.view``,
one conflated immutable picture of a session, at most ten a second) and the
``DeskLink`` it reaches the session through (``tui.link``: read the newest view,
send catalog commands such as Halt). It never reaches into an actor and never
imports ``app``: whatever it needs from there (the session, a backtest launcher)
is injected.
"""
