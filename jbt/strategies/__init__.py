"""The strategy base class: ``from jbt.strategies import Strategy, cached``."""

from jbt.strategies._jesse_compat import cached
from jbt.strategies.Strategy import Strategy

__all__ = ["Strategy", "cached"]
