"""The append-only journal: frames, segments, group commit, snapshots, recovery, replay.

Empty until the journal issue lands; the package exists so the layout of
DESIGN.md is in place and imports resolve.
"""
