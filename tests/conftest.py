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
        time.sleep(0.5)  # its subscriptions follow the handshake (0.2 s lost a first message under load)

    return wait


def bridge_results(bridge, results: list, url: str, images: bool = False, period_s: float = 1 / 30):
    """Publish ``results`` (FrameResults) on ``url`` to ``bridge`` run as a stream client
    (run_bridge in a thread), at ``period_s``; returns the bridge's BridgeStats once every
    frame went through (``bridge.close()`` has run)."""
    import threading
    import time

    from livehmr.clients.bridges.stream import run_bridge
    from livehmr.stream.publish.publisher import ZmqPublisher

    publisher = ZmqPublisher(url, publish_frames=images)
    subscribed = watch_for_subscriber(publisher.socket)
    out = {}
    thread = threading.Thread(target=lambda: out.update(stats=run_bridge(url, bridge, count=len(results), idle_s=5.0,
                                                                         images=images)))  # fmt: skip
    thread.start()
    try:
        subscribed()
        for result in results:
            publisher.publish(result)
            time.sleep(period_s)
        thread.join(30)
    finally:
        publisher.close()
    return out["stats"]
