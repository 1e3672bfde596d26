"""Per-cluster PKI: a CA, the API server's serving cert, client certs and the SA key pair.

Everything is written under one directory (``.cluster/pki``) as PEM files; nothing is
reused between clusters.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=30)

# Names under which the API server is reached, from the host and from "in-cluster" code.
API_SERVER_DNS_NAMES = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
# The first address of --service-cluster-ip-range (the `kubernetes` Service).
SERVICE_CLUSTER_IP = "10.0.0.1"
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"


@dataclass(frozen=True)
class KeyPair:
    """Paths of a PEM certificate and its PEM private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class ClusterPki:
    """Every file the control plane needs; see :func:`generate`."""

    ca: KeyPair
    apiserver: KeyPair
    admin: KeyPair
    controller_manager: KeyPair
    scheduler: KeyPair
    kubelet_client: KeyPair
    kubelet_serving: KeyPair
    service_account_key: Path
    service_account_pub: Path


def load(directory: Path) -> ClusterPki:
    """The paths :func:`generate` writes in ``directory`` (the files are not checked)."""

    def pair(stem: str) -> KeyPair:
        return KeyPair(directory / f"{stem}.crt", directory / f"{stem}.key")

    return ClusterPki(
        ca=pair("ca"),
        apiserver=pair("apiserver"),
        admin=pair("admin"),
        controller_manager=pair("controller-manager"),
        scheduler=pair("scheduler"),
        kubelet_client=pair("apiserver-kubelet-client"),
        kubelet_serving=pair("kubelet-serving"),
        service_account_key=directory / "service-account.key",
        service_account_pub=directory / "service-account.pub",
    )


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _issue(
    directory: Path,
    stem: str,
    subject: x509.Name,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    server_names: list[str] | None = None,
    server_ips: list[str] | None = None,
    client: bool = False,
) -> KeyPair:
    """Issues a leaf certificate signed by the CA; writes <stem>.crt and <stem>.key."""
    key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    usages = []
    if server_names or server_ips:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names or []]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips or []]
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pair = KeyPair(directory / f"{stem}.crt", directory / f"{stem}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pair.key, key)
    return pair


def generate(directory: Path, api_server_ips: Sequence[str] = ()) -> ClusterPki:
    """Creates a fresh CA and every certificate and key of one cluster in ``directory``.
    The API server's serving certificate names 127.0.0.1, the `kubernetes` Service's
    ClusterIP and ``api_server_ips`` (the address it advertises).

    Client identities (CN = user, O = group) follow the bootstrap RBAC policy: the admin
    and the node agent are in ``system:masters``; the controller manager and the scheduler
    use their ``system:kube-*`` users, which have built-in roles.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _new_key()
    now = datetime.datetime.now(datetime.UTC)
    ca_name = _name("kubetune-local-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca = KeyPair(directory / "ca.crt", directory / "ca.key")
    ca.cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(ca.key, ca_key)

    def issue(
        stem: str,
        subject: x509.Name,
        *,
        server_names: list[str] | None = None,
        server_ips: list[str] | None = None,
        client: bool = False,
    ) -> KeyPair:
        return _issue(
            directory,
            stem,
            subject,
            ca_cert,
            ca_key,
            server_names=server_names,
            server_ips=server_ips,
            client=client,
        )

    # The service-account signing key: RSA, the algorithm every token reviewer accepts.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_key_path = directory / "service-account.key"
    sa_pub_path = directory / "service-account.pub"
    _write_key(sa_key_path, sa_key)
    sa_pub_path.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    return ClusterPki(
        ca=ca,
        apiserver=issue(
            "apiserver",
            _name("kube-apiserver"),
            server_names=API_SERVER_DNS_NAMES,
            server_ips=list(dict.fromkeys(["127.0.0.1", SERVICE_CLUSTER_IP, *api_server_ips])),
        ),
        admin=issue("admin", _name("kubetune-admin", "system:masters"), client=True),
        controller_manager=issue(
            "controller-manager", _name("system:kube-controller-manager"), client=True
        ),
        scheduler=issue("scheduler", _name("system:kube-scheduler"), client=True),
        kubelet_client=issue(
            "apiserver-kubelet-client",
            _name("kube-apiserver-kubelet-client", "system:masters"),
            client=True,
        ),
        kubelet_serving=issue(
            "kubelet-serving",
            _name("kubetune-node-agent"),
            server_names=["localhost"],
            server_ips=["127.0.0.1"],
        ),
        service_account_key=sa_key_path,
        service_account_pub=sa_pub_path,
    )
