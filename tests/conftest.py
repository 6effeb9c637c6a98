import os

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def anny_body():
    from livehmr.models.anny_body import AnnyBody

    return AnnyBody()


def wait_for_subscriber(socket, timeout_s: float = 30.0) -> None:
    """Block until a subscriber has completed its handshake with this PUB socket (then a
    moment for its subscription to arrive): sleeping a fixed time loses the first messages
    on a loaded machine."""
    import time

    import zmq
    from zmq.utils.monitor import recv_monitor_message

    monitor = socket.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        if not monitor.poll(int(timeout_s * 1000)):
            raise TimeoutError("no subscriber connected")
        recv_monitor_message(monitor)
    finally:
        socket.disable_monitor()
        monitor.close(linger=0)
    time.sleep(0.2)
