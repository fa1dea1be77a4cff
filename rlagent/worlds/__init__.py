"""Worlds agents act in: appsim, the offline AppWorld-compatible world."""
