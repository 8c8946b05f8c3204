"""Built-in agents that work offline: no network, no model weights."""
