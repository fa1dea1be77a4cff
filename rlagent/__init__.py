"""rlagent: customize multi-turn, tool-using LLM agents with online reinforcement learning."""

__version__ = "0.1.0"
