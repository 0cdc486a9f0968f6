"""Version of the statistics core, written into every result row."""

__version__ = "0.6.0"
