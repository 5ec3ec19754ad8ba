"""The strategy base class: ``from jbt.strategies import Strategy``."""

from jbt.strategies.Strategy import Strategy

__all__ = ["Strategy"]
