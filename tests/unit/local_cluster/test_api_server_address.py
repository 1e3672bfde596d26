"""Where the local API server listens and what it advertises: the `kubernetes` Service's
endpoint that pods on a real node reach it through (hack/cluster/components.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cluster import certs, components
from cryptography import x509


def layout(tmp_path: Path, advertise: str) -> components.Layout:
    pki = certs.load(tmp_path / "pki")
    return components.Layout(tmp_path, pki, 2379, 2380, 6443, advertise_address=advertise)


def flags(argv: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in argv[1:] if arg.startswith("--") and "=" in arg)


def test_a_routable_address_is_advertised_and_the_service_gets_its_endpoint(
    tmp_path: Path,
) -> None:
    argv = flags(components.kube_apiserver(tmp_path, layout(tmp_path, "192.0.2.2")))
    assert argv["advertise-address"] == "192.0.2.2"
    assert argv["bind-address"] == "0.0.0.0"  # reachable at 192.0.2.2 and at 127.0.0.1
    assert argv["endpoint-reconciler-type"] == "lease"


def test_without_a_routable_address_the_api_server_stays_on_loopback(tmp_path: Path) -> None:
    argv = flags(components.kube_apiserver(tmp_path, layout(tmp_path, "127.0.0.1")))
    assert (argv["bind-address"], argv["advertise-address"]) == ("127.0.0.1", "127.0.0.1")
    # A loopback endpoint is refused by the API server's own validation: none at all.
    assert argv["endpoint-reconciler-type"] == "none"


def test_the_serving_certificate_names_the_advertised_address(tmp_path: Path) -> None:
    pki = certs.generate(tmp_path / "pki", ["192.0.2.2"])
    cert = x509.load_pem_x509_certificate(pki.apiserver.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert ips == {"127.0.0.1", certs.SERVICE_CLUSTER_IP, "192.0.2.2"}
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)


def test_the_host_address_is_an_address_of_this_machine_or_loopback() -> None:
    address = ipaddress.ip_address(components.host_address())
    assert address.version == 4
    assert not address.is_loopback or str(address) == "127.0.0.1"
    assert not address.is_unspecified
