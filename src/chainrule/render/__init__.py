"""Renderers: pure functions from a :class:`chainrule.trace.Trace` to text in one format."""
