"""Model signal receivers that enqueue jobs (connected on import by the app config)."""
