"""Debian's nginx with the shipped site (`deploy/nginx/helloquittex.conf`), made local: its
addresses, ports and certificate on loopback, everything it writes in one folder."""

from __future__ import annotations

import re
import shutil
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl
    import subprocess

SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "helloquittex.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
"""Installed by ``scripts/system-packages.sh``."""


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    chain, private = folder / "fullchain.pem", folder / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))  # fmt: skip
    return chain, private


def local_site(
    folder: Path, ports: list[int], tls: int, plain: int, certificate: tuple[Path, Path]
) -> Path:
    """The shipped site with loopback addresses, free ports and a test certificate, and an
    nginx.conf around it that keeps everything in ``folder``."""
    site = SITE.read_text()
    site = site.replace("127.0.0.1:8081", f"127.0.0.1:{ports[0]}")
    site = site.replace("127.0.0.1:8082", f"127.0.0.1:{ports[1]}")
    site = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)
    site = site.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls} ssl http2;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{plain};")
    site = site.replace("server_name hqx.example.org;", "server_name localhost 127.0.0.1;")
    site = site.replace("/etc/letsencrypt/live/hqx.example.org/fullchain.pem", str(certificate[0]))
    site = site.replace("/etc/letsencrypt/live/hqx.example.org/privkey.pem", str(certificate[1]))
    site = site.replace("root /var/www/html;", f"root {folder};")
    (folder / "site.conf").write_text(site)
    temp = "\n".join(f"    {kind}_temp_path {folder}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    conf = folder / "nginx.conf"
    conf.write_text(
        f"daemon off;\nuser root;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{}}\nhttp {{\n    access_log {folder}/access.log;\n{temp}\n"
        f"    include {folder}/site.conf;\n}}\n"
    )
    return conf


def until_served(
    url: str, process: subprocess.Popen[Any], context: ssl.SSLContext | None = None
) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "a process exited"
        try:
            with urllib.request.urlopen(url, context=context, timeout=5):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} was not served"
            time.sleep(0.1)
