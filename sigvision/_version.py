"""The version of sigvision (one place; ``sigvision.__version__`` re-exports it)."""

__version__ = "0.1.0"
