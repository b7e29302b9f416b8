"""Serving: the prediction API and, later, batch scoring (the data engineer's room)."""
