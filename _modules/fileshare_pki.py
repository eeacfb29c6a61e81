"""
Key material the load nodes of an HA site must share without a channel between them.

On mini_ha/full_ha every load node makes its own lab CA certificate and TLS front certificate (Salt's
x509 modules, formulas/fileshare/load/tls.sls), yet a client that trusts one node's ``lab-ca.crt`` must
accept whichever node holds the VIP. So the lab CA's *private key* is derived from a site secret every
load node already has: the same key on each node, hence the same CA public key and subject, so a front
certificate signed on any load node verifies against any load node's CA certificate.

The derivation is HKDF-SHA512 over the secret with a fixed label; the result is an EC P-384 key.
Whoever holds the secret holds the lab CA: this is for lab CAs only (a production site gives its own
certificate in pillar fileshare:load:tls). The secret is never logged nor returned, only the PEM key.
"""

import logging

from salt.exceptions import CommandExecutionError

try:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - Salt's x509 modules need it too
    HAS_CRYPTOGRAPHY = False

log = logging.getLogger(__name__)

__virtualname__ = "fileshare_pki"

# P-384's group order: the derived scalar must lie in [1, n-1].
_P384_ORDER = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16
)


def __virtual__():
    if not HAS_CRYPTOGRAPHY:
        return False, "fileshare_pki needs the cryptography package"
    return __virtualname__


def derive_scalar(secret, label):
    """The P-384 private scalar for ``secret`` and ``label`` (pure; same inputs, same scalar)."""
    if not secret:
        raise CommandExecutionError("fileshare_pki: the secret to derive the key from is empty")
    material = HKDF(algorithm=hashes.SHA512(), length=64, salt=None, info=label.encode()).derive(
        secret.encode() if isinstance(secret, str) else secret
    )
    return int.from_bytes(material, "big") % (_P384_ORDER - 1) + 1


def derived_key(secret, label="fileshare lab CA"):
    """
    The PEM (PKCS#8, unencrypted) EC P-384 private key derived from ``secret`` and ``label``.

    For templates (the key file is written with show_changes False, mode 0600):

    .. code-block:: jinja

        {{ salt['fileshare_pki.derived_key'](salt['pillar.get']('fileshare:secrets:tsig_key')) }}
    """
    key = ec.derive_private_key(derive_scalar(secret, label), ec.SECP384R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
