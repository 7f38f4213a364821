"""Detectors of silent degradation: pure statistics on probe verdicts and online signals."""
