"""seawall.state."""
