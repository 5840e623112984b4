"""The emulator's TLS credentials: a private CA and a server certificate, made on first use.

Contract: :func:`ensure_certificates` makes sure ``directory`` holds a CA (``ca.pem``, ``ca.key``)
and a server certificate signed by it (``server.pem``, ``server.key``) whose subject alternative
names cover ``127.0.0.1``, ``localhost`` and any extra hosts asked for, and returns their paths.
Existing files are kept across runs (so a client's ``cafile`` setting stays valid); a server
certificate that is missing a host, expires within :data:`RENEW_BEFORE`, or was not signed by the
CA in the directory is re-issued. The directory is created 0700 and every file written 0600 (via
``O_EXCL`` temporary files renamed into place, never readable by others, never half-written).
The CA key never leaves the directory: nothing here logs or returns key material.

Clients verify with the CA file: ``ssl.create_default_context(cafile=paths.ca_cert)``, host name
checking on, connecting to ``127.0.0.1`` or ``localhost``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path
from typing import Iterable, List, Union

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertificatePaths", "ensure_certificates", "DEFAULT_HOSTS", "RENEW_BEFORE"]

#: Names every server certificate covers.
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
#: A server certificate is re-issued when it expires within this long.
RENEW_BEFORE = datetime.timedelta(days=30)
_CA_LIFETIME = datetime.timedelta(days=3650)
_SERVER_LIFETIME = datetime.timedelta(days=397)  # browsers' maximum; nothing needs more


@attrs.frozen
class CertificatePaths:
    """Where the emulator's TLS files are. ``ca_cert`` is what a client needs (``cafile``)."""

    directory: Path
    ca_cert: Path
    ca_key: Path = attrs.field(repr=False)
    server_cert: Path
    server_key: Path = attrs.field(repr=False)


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _san(hosts: Iterable[str]) -> List[x509.GeneralName]:
    names: List[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _make_ca(paths: CertificatePaths) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imgfeed Betfair emulator local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(paths.ca_key, _key_pem(key))
    _write_private(paths.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def _make_server(paths: CertificatePaths, hosts: List[str]) -> None:
    ca_key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{paths.ca_key} is not the emulator's CA key (an EC key)")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "imgfeed Betfair emulator")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _SERVER_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(paths.server_key, _key_pem(key))
    _write_private(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM))


def _server_ok(paths: CertificatePaths, hosts: List[str]) -> bool:
    if not (paths.server_cert.exists() and paths.server_key.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
        ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    if cert.not_valid_after_utc - RENEW_BEFORE < _now():
        return False
    return all(name in san for name in _san(hosts))


def ensure_certificates(
    directory: Union[str, "os.PathLike[str]"], hosts: Iterable[str] = ()
) -> CertificatePaths:
    """Create (if needed) the CA and a server certificate for ``127.0.0.1``, ``localhost`` and ``hosts``.

    Returns:
        The paths; ``ca_cert`` is the file a client passes as ``cafile``.
    """
    root = Path(directory).expanduser()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(root, 0o700)
    paths = CertificatePaths(
        directory=root,
        ca_cert=root / "ca.pem",
        ca_key=root / "ca.key",
        server_cert=root / "server.pem",
        server_key=root / "server.key",
    )
    wanted = list(DEFAULT_HOSTS) + [
        h for h in hosts if h and h not in DEFAULT_HOSTS and h not in ("0.0.0.0", "::")
    ]
    if not (paths.ca_cert.exists() and paths.ca_key.exists()):
        _make_ca(paths)
        paths.server_cert.unlink(missing_ok=True)
    if not _server_ok(paths, wanted):
        _make_server(paths, wanted)
    return paths
