"""Sites reach NATS over TLS, checking the servers' certificate against the operator's CA:
the password and the bundles' headers never cross the network in the clear, and a server
whose certificate the CA did not issue is not talked to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sitroom.adapters.nats_link import NatsLink
from sitroom.errors import LinkDown, UserInputError
from sitroom.testing.nats import NatsCluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(1, sites=["geneva", "tehran"], tls=True) as c:
        c.provision()  # the operator, over TLS too
        yield c


def test_a_site_connects_with_the_operators_ca(cluster: NatsCluster) -> None:
    assert cluster.ca_file is not None
    with NatsLink(cluster.url(1), cluster.creds["geneva"], ca=cluster.ca_file) as link:
        assert link.latest("tehran") is None  # a request answered, over TLS


def test_a_site_without_the_ca_or_with_another_talks_to_no_server(
    cluster: NatsCluster, tmp_path: Path
) -> None:
    # a CA of another cluster: its server's certificate does not chain to it
    with NatsCluster(1, sites=["geneva"], tls=True) as other:
        assert other.ca_file is not None
        foreign = tmp_path / "foreign-ca.pem"
        foreign.write_bytes(other.ca_file.read_bytes())
    for ca in (None, foreign):
        with pytest.raises(LinkDown, match="cannot be reached by geneva"):
            NatsLink(cluster.url(1), cluster.creds["geneva"], ca=ca, timeout_s=1)


def test_a_ca_file_that_is_no_certificate_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(UserInputError, match=r"cannot use .* as the NATS servers' CA"):
        NatsLink("nats://127.0.0.1:9", NatsCluster(1, sites=["geneva"]).creds["geneva"], ca=garbage)
