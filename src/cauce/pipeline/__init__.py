"""The data scientist's room: one module per DVC stage, each run as `cauce <stage>`."""
