"""Evaluation: run episodes with the agent loop, aggregate metrics, write results."""
