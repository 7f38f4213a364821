"""seawall.dashboard."""
