"""rlagent: customize multi-turn, tool-using LLM agents with online reinforcement learning."""

import os

# bm25s imports JAX when it is installed and runs a JAX op at import time; JAX then takes 75% of every visible
# GPU's memory for itself (seen on an H200: 105 of 140 GiB gone, a 1.5B-parameter run out of memory). Ask JAX to
# allocate on demand instead; a user's own setting wins.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

__version__ = "0.1.0"
