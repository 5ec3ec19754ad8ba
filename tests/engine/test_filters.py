"""Jesse's entry filters: checked after go_long() declared the orders; a False one drops the
entry for that bar."""

from jbt.strategies import Strategy

from .kit import T0, M, candles, flat, run


def make(seen: list):
    class Filtered(Strategy):
        def should_long(self):
            return True

        def go_long(self):
            self.buy = 1, self.price
            self.stop_loss = 1, self.price - 50

        def filters(self):
            return [self.third_call_only]

        def third_call_only(self):
            # the orders go_long declared are readable here
            seen.append((self.index, self.buy, self.stop_loss))
            return self.index == 2

        def should_cancel_entry(self):
            return False

    return Filtered


def test_a_false_filter_drops_the_entry_and_a_true_one_lets_it_through():
    seen: list = []
    data = candles(*flat(100.0, 3), (110, 110, 110, 110), *flat(120.0, 4))
    result = run(make(seen), data, first_call=1, fast_path=True, fee=0.0)
    # calls 0 and 1 (bars at 00:01, 00:02) are filtered out; call 2 at 00:03 enters at its
    # open 110 with the stop-loss declared with it (110 - 50), never reached
    assert [s[0] for s in seen] == [0, 1, 2]
    assert seen[0][1:] == ((1, 100.0), (1, 50.0))
    assert seen[2][1:] == ((1, 110.0), (1, 60.0))
    [trade] = result.trades
    assert (trade.entry_time, trade.entry_price) == (T0 + 3 * M, 110.0)
    assert trade.closed_by == "end-of-run"
    filled = [o for o in result.orders if o.status == "filled"]
    assert [(o.role, o.created_at, o.fill_price) for o in filled] == [
        ("entry", T0 + 3 * M, 110.0),
        ("end-of-run", T0 + 8 * M, 120.0),
    ]
    # the dropped entries left no orders behind
    assert all(o.created_at >= T0 + 3 * M for o in result.orders)
