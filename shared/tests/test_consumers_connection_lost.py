"""Settling a message on a connection the broker dropped must not kill the service.

A worker that finishes while RabbitMQ restarts acks on a dead socket: py-amqp raises the
socket's ``ConnectionResetError`` / ``BrokenPipeError``, which nameko's ``ack_message`` let
escape into the container (the service exited; found by tests/faults/test_crashes.py).
The broker redelivers an unacked message; the inbox drops the repeat.
"""
import pytest
from amqp.exceptions import RecoverableConnectionError

from shared.consumers import ReliableQueueConsumer


class DeadSocketMessage:
    def __init__(self, error: Exception):
        self.error = error
        self.channel = type("Channel", (), {"connection": object()})()  # looks alive until used

    def ack(self):
        raise self.error

    def requeue(self):
        raise self.error


@pytest.mark.parametrize("error", [ConnectionResetError(104, "Connection reset by peer"),
                                   BrokenPipeError(32, "Broken pipe"),
                                   RecoverableConnectionError("connection already closed")])
def test_ack_and_requeue_on_a_dropped_connection_leave_the_message_to_the_broker(error):
    consumer = ReliableQueueConsumer()
    consumer.ack_message(DeadSocketMessage(error))
    consumer.requeue_message(DeadSocketMessage(error))


def test_other_errors_still_raise():
    with pytest.raises(ValueError):
        ReliableQueueConsumer().ack_message(DeadSocketMessage(ValueError("a bug")))
