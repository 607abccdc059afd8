"""Verification: gradients checked independent ways, and someone else's backprop diagnosed."""
