"""The Textual terminal UI that supervises and controls a session.

Empty until the terminal-UI issue lands; until then a bare ``tickdeck`` runs the
demo backtest.
"""
