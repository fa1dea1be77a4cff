"""`task=custom`: train and evaluate on your own environment, tools and reward (docs/CUSTOM_TASKS.md)."""
