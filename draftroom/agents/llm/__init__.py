"""LLM agents over any OpenAI-compatible chat completions endpoint."""
