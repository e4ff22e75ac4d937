"""raybank: a command-line banking simulator built on Ray actors."""

__version__ = "0.1.0"
