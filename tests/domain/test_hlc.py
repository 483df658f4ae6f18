import itertools

from hypothesis import given
from hypothesis import strategies as st

from sitroom.domain import hlc
from sitroom.domain.hlc import Hlc


def test_tick_follows_physical_time_when_it_moves_forward() -> None:
    clock, t = Hlc().tick(1000)
    assert (hlc.wall_ms(t), hlc.counter(t)) == (1000, 0)
    clock, t2 = clock.tick(1000)
    assert (hlc.wall_ms(t2), hlc.counter(t2)) == (1000, 1)
    clock, t3 = clock.tick(2000)
    assert (hlc.wall_ms(t3), hlc.counter(t3)) == (2000, 0)


def test_tick_never_goes_back_when_physical_time_does() -> None:
    clock, t1 = Hlc().tick(5000)
    clock, t2 = clock.tick(4000)
    assert t2 > t1 and hlc.wall_ms(t2) == 5000


def test_a_batch_gets_consecutive_timestamps_and_carries_past_the_counter() -> None:
    n = (1 << hlc.COUNTER_BITS) + 10
    clock, first = Hlc().tick(7, n)
    assert clock.last == first + n - 1
    assert hlc.wall_ms(clock.last) == 8  # the counter overflowed into the next millisecond
    _, after = clock.tick(7)
    assert after == clock.last + 1


def test_observe_orders_after_a_remote_timestamp_from_the_future() -> None:
    clock, _ = Hlc().tick(1000)
    remote = hlc.pack(9000, 3)
    clock, t = clock.observe(remote, 1000)
    assert t > remote
    _, t2 = clock.tick(1001)
    assert t2 > t


@given(st.lists(st.tuples(st.integers(0, 10**12), st.integers(1, 50)), max_size=40))
def test_timestamps_strictly_increase_whatever_the_physical_clock_does(
    ticks: list[tuple[int, int]],
) -> None:
    clock, issued = Hlc(), []
    for physical, n in ticks:
        clock, first = clock.tick(physical, n)
        issued += range(first, first + n)
    assert all(a < b for a, b in itertools.pairwise(issued))


def test_upper_bound_covers_every_counter_of_that_millisecond() -> None:
    assert hlc.pack(10, hlc.COUNTER_MASK) == hlc.upper_bound(10) < hlc.pack(11)
