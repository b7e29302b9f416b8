"""The ML engineer's room: what the workflows call (report, gate, registry)."""
