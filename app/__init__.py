"""The composition root: the CLI, settings, logs, and the wiring of actors per mode.

It is the only package that knows every other one: it turns a config into
actors, venues and strategies, runs them under a scheduler, and writes what a
run leaves behind (run directories, metrics). Nothing imports ``app``.
"""
