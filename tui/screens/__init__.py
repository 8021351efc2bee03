"""The six desk screens (overview, orders and fills, market, SQL, backtests, journal), one
per module, each a ``DeskScreen`` that draws the ``DeskView``s the app hands it and owns
nothing of the session; screen-specific modals (the backtest form) live beside them."""
