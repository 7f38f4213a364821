"""Replay: re-run a recorded request offline from its recording, or live against a target."""
