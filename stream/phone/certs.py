"""The phone page's TLS certificate: browsers give a page the camera and motion sensors
only in a secure context, and a phone reaches this machine by its LAN address, not
``localhost``. Made once with ``cryptography`` (self-signed, for this machine's names and
addresses) and kept in the user's config folder, so the phone's "accept this certificate"
holds across runs; the user's own with ``--cert/--key``."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path

from livehmr.core.errors import LivehmrError


def server_tls(cert: Path, key: Path):
    """A TLS server context (``ssl.SSLContext``) for the PEM ``cert`` and ``key``."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/livehmr`` (default ``~/.config/livehmr``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "livehmr"


def lan_address() -> str:
    """This machine's address on its default route (what a phone on the same network dials);
    ``127.0.0.1`` without one. No packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def ensure_certificate(folder: Path | None = None, hosts: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """``phone/cert.pem`` and ``phone/key.pem`` under ``folder`` (default :func:`config_dir`),
    made if missing, or remade if they do not name every host of ``hosts`` (``localhost``,
    127.0.0.1 and the LAN address are always named). The key is readable by the user alone."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise LivehmrError("livehmr phone makes its certificate with cryptography: pip install 'livehmr[phone]'") from None
    folder = (folder or config_dir()) / "phone"
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    names = sorted({"localhost", "127.0.0.1", lan_address(), socket.gethostname(), *hosts})
    if cert_path.exists() and key_path.exists():
        try:
            existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
            san = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have = {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
                str(v) for v in san.get_values_for_type(x509.IPAddress)}  # fmt: skip
            if set(names) <= have and existing.not_valid_after_utc > datetime.datetime.now(datetime.timezone.utc):
                return cert_path, key_path
        except (ValueError, x509.ExtensionNotFound):
            pass  # unreadable or without names: made again below
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"livehmr phone on {socket.gethostname()}")])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=397))  # the longest browsers accept
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())  # fmt: skip
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
