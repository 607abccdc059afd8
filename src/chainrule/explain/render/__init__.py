"""Renderers: pure functions from a :class:`chainrule.explain.trace.Trace` to text in one format."""
