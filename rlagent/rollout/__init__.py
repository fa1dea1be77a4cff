"""The multi-turn agent loop and the generation engines behind it."""
