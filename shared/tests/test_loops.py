"""The background loop's rhythm (the outbox relay's and notify's sender's), on eventlet, without a service."""
import eventlet

from shared.loops import BackgroundLoop


class Counting(BackgroundLoop):
    def __init__(self, gather: float) -> None:
        super().__init__()
        self.poll, self.gather, self.passes = 60.0, gather, 0
        self.container = type("Container", (), {"spawn_managed_thread": staticmethod(
            lambda run, identifier=None: eventlet.spawn(run))})()

    def run_once(self) -> bool:
        self.passes += 1
        return False


def wakes(loop: Counting, times: int, every: float) -> int:
    loop.start_loop()
    eventlet.sleep(0.01)  # the first pass, at start
    for _ in range(times):
        loop.wake()
        eventlet.sleep(every)
    eventlet.sleep(0.15)
    loop.stop()
    return loop.passes


def test_each_wake_up_starts_a_pass_when_nothing_gathers_them():
    assert wakes(Counting(gather=0.0), 10, 0.02) >= 8  # (a busy machine may fold two wake-ups in one)


def test_wake_ups_within_the_gathering_time_share_one_pass():
    passes = wakes(Counting(gather=0.2), 10, 0.02)  # ten in 0.2 s: the first pass, then one or two
    assert 2 <= passes <= 3
