"""Generation engines behind one interface: vllm, hf (transformers) and openai (text only)."""
