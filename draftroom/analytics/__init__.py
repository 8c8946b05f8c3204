"""Usage analytics, a product feature: who wrote in which document, which agents and
exports were used. ``recorder`` buffers and stores events (retention, erasure,
aggregates); ``editing`` turns one WebSocket session into events."""
