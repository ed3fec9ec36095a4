"""
Fixtures for the Widget operator's tests: kapid (from kapid's pytest plugin, with the Widget CRD and
fault injection, see C{pytest.ini}), the operator running in this process through C{kopf.testing},
and clients.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterator

import kubernetes
import pytest
from kopf.testing import KopfRunner

OPERATOR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "widget_operator.py")
GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"

#: How long a test waits for the operator to react.
TIMEOUT = 15.0


@pytest.fixture(scope="session")
def operator(kapid: Any) -> Iterator[KopfRunner]:
    """
    The operator, watching every namespace of the session's kapid (no peering: C{--standalone}).
    It finds kapid through C{KUBECONFIG}, as it finds any cluster.
    """
    saved = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = kapid.kubeconfig
    try:
        with KopfRunner(["run", "--standalone", "--all-namespaces", "--verbose", OPERATOR],
                        timeout=TIMEOUT) as runner:
            yield runner
    finally:
        if saved is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


@pytest.fixture(scope="session")
def api_client(kapid: Any) -> kubernetes.client.ApiClient:
    return kubernetes.client.ApiClient(kapid.client_configuration())


@pytest.fixture
def core(api_client: Any) -> Any:
    return kubernetes.client.CoreV1Api(api_client)


@pytest.fixture
def widgets(api_client: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(api_client)


def wait_for(read: Callable[[], Any], check: Callable[[Any], bool], what: str, timeout: float = TIMEOUT) -> Any:
    """
    Read until C{check} holds on what C{read} returns (a 404 counts as not yet); fail after
    C{timeout} seconds with the last value read.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = read()
            if check(last):
                return last
        except kubernetes.client.ApiException as e:
            if e.status != 404:
                raise
            last = e
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}; last read: {last}")
        time.sleep(0.05)
