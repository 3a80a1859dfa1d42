"""Reusable widgets: the keyed resource table, and the log view."""
