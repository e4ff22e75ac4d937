"""Driver-side routing: where an account lives and how to call it.

The only layer that reads Ray's private API (introspection.py).
"""
