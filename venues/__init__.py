"""Venue gateways: the backtest exchange and the fill model it shares with the paper broker.

A gateway is an actor at the edge of the system: it turns ``SubmitOrder``,
``CancelOrder`` and ``Reconcile`` into a venue's answers (``ExecutionReport``,
``VenueSnapshot``). Binance, Kraken, Mercado Bitcoin and the loopback simulator
will live here too.
"""
