"""The version, in its own module so that any layer can name it without importing the
package's public API (chainrule/__init__.py imports nearly every layer)."""

__version__ = "0.1.0"
