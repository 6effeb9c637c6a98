import os

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")


@pytest.fixture(scope="session")
def anny_body():
    from livehmr.models.anny_body import AnnyBody

    return AnnyBody()
