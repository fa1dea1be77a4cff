"""Online GRPO training with TRL around the shared agent loop."""
