"""The paper broker (STRATEGY R5): fill prices with slippage, commissions, quantity floors."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from momentum.core.config import TradingConfig
from momentum.core.domain import AssetType, ExitReason, Fill, Position, Side
from momentum.core.money import ONE, ZERO, floor_qty, to_money


class PaperBroker:
    """Simulated execution: no real orders are ever sent."""

    def __init__(self, cfg: TradingConfig) -> None:
        self.cfg = cfg
        self._slippage = {t: to_money(cfg.slippage(t)) for t in AssetType}
        self._commission = {t: to_money(cfg.commission(t)) for t in AssetType}

    def slippage(self, asset_type: AssetType) -> Decimal:
        return self._slippage[asset_type]

    def commission_rate(self, asset_type: AssetType) -> Decimal:
        return self._commission[asset_type]

    def buy(self, ticker: str, asset_type: AssetType, day: date, open_price: float,
            quantity: Decimal, cash: Decimal) -> Fill | None:
        """R5.1/R5.3: buy at open*(1+slippage); shrink to what cash covers; None if nothing."""
        price = to_money(open_price) * (ONE + self._slippage[asset_type])
        rate = self._commission[asset_type]
        if price * quantity * (ONE + rate) > cash:
            quantity = floor_qty(cash / (price * (ONE + rate)), asset_type)
        if quantity <= ZERO:
            return None
        return Fill(ticker, Side.BUY, day, price, quantity, rate * price * quantity)

    def sell(self, pos: Position, day: date, price_before_slippage: Decimal,
             reason: ExitReason) -> Fill:
        """R5.1: sell the whole position at price*(1-slippage) with the commission of a sale."""
        price = price_before_slippage * (ONE - self._slippage[pos.asset_type])
        commission = self._commission[pos.asset_type] * price * pos.quantity
        return Fill(pos.ticker, Side.SELL, day, price, pos.quantity, commission, reason)
