import socket

from shared import ports


def test_a_free_port_lies_below_the_range_outgoing_connections_take_their_ports_from():
    low, _high = ports.ephemeral_range()
    for _ in range(50):
        port = ports.free_port()
        assert ports.LOWEST <= port < low
        assert ports.bindable(port)


def test_a_port_in_use_is_passed_over(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", ports.free_port()))
        used = taken.getsockname()[1]
        draws = iter([used, used, ports.free_port()])
        monkeypatch.setattr(ports._random, "randrange", lambda low, high: next(draws))
        assert not ports.bindable(used)
        assert ports.free_port() != used


def test_below_bounds_the_choice():
    assert ports.free_port(below=12000) < 12000
