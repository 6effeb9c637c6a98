import os

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def anny_body():
    from livehmr.models.anny_body import AnnyBody

    return AnnyBody()


def watch_for_subscriber(socket):
    """Start watching a PUB socket for a subscriber's handshake (before the subscriber is
    started, or its handshake may come first); returns ``wait(timeout_s)``, which blocks
    until one has connected, then gives its subscription a moment to arrive. Sleeping a
    fixed time instead loses the first messages on a loaded machine."""
    import time

    import zmq
    from zmq.utils.monitor import recv_monitor_message

    monitor = socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)

    def wait(timeout_s: float = 30.0) -> None:
        try:
            if not monitor.poll(int(timeout_s * 1000)):
                raise TimeoutError("no subscriber connected")
            recv_monitor_message(monitor)
        finally:
            socket.disable_monitor()
            monitor.close(linger=0)
        time.sleep(0.2)

    return wait
