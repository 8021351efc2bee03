"""The desk's widgets, one per module: the tab bar and key footer every screen carries, the
terminal charts (equity and drawdown, candlesticks, a run's equity), limit-usage bars,
the confirmation modals, and the helpers that update tables in place without losing the
user's cursor."""
