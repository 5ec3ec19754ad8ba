"""Exchange adapters by name: ``binance``, ``binance-futures``, or any ccxt exchange id.

ccxt is imported only when an adapter is built, so importing this package stays cheap.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from jbt.errors import InputError
from jbt.exchanges.base import ExchangeAdapter

if TYPE_CHECKING:
    from jbt.config import Config

#: The first-class exchanges: our name -> (ccxt id, market type).
FIRST_CLASS = {
    "binance": ("binance", "spot"),
    "binance-futures": ("binanceusdm", "linear"),
}

#: Binance's published request-weight limits per minute and the weights of what we call.
BINANCE_SPOT_WEIGHT_LIMIT = 6000
BINANCE_FUTURES_WEIGHT_LIMIT = 2400


def _binance_futures_klines_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _ccxt_ids() -> list[str]:
    import ccxt

    return list(ccxt.exchanges)


def supported_exchanges() -> list[str]:
    """Every name :func:`get_adapter` accepts: the first-class ones, then the ccxt ids."""
    return [*FIRST_CLASS, *(i for i in _ccxt_ids() if i not in FIRST_CLASS)]


def check_exchange(name: str) -> str:
    """The exchange name, normalised, or InputError listing the supported ones."""
    key = str(name).strip().lower()
    if key in FIRST_CLASS or key in _ccxt_ids():
        return key
    close = difflib.get_close_matches(key, supported_exchanges(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise InputError(
        f"unknown exchange '{name}'; {hint}supported: {', '.join(FIRST_CLASS)}, "
        "or any ccxt exchange id (kraken, okx, bybit, coinbase, ...)"
    )


def get_adapter(name: str, config: Config, **kwargs: Any) -> ExchangeAdapter:
    """The adapter for ``name``, configured from ``config.exchange(name)`` (api_url, retries)."""
    key = check_exchange(name)
    from jbt.exchanges.ccxt_adapter import CcxtAdapter

    ex_config = config.exchange(key)
    if key == "binance":
        return CcxtAdapter(
            key, "binance", config=ex_config, market_type="spot",
            weight_limit=BINANCE_SPOT_WEIGHT_LIMIT, weight_header="X-MBX-USED-WEIGHT-1M",
            klines_weight=lambda limit: 2, markets_weight=20, supports_until=True,
            listing_from_epoch=True, **kwargs,
        )
    if key == "binance-futures":
        return CcxtAdapter(
            key, "binanceusdm", config=ex_config, market_type="linear",
            weight_limit=BINANCE_FUTURES_WEIGHT_LIMIT, weight_header="X-MBX-USED-WEIGHT-1M",
            klines_weight=_binance_futures_klines_weight, markets_weight=1, supports_until=True,
            listing_from_epoch=True, **kwargs,
        )
    return CcxtAdapter(key, key, config=ex_config, market_type="spot", **kwargs)


__all__ = ["ExchangeAdapter", "FIRST_CLASS", "check_exchange", "get_adapter",
           "supported_exchanges"]
