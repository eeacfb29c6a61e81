"""The HA lab CA key is derived from a site secret: same secret, same key on every load node; another
secret or label, another key; a front certificate signed on one node verifies against another node's
CA certificate (same key and subject, separately issued)."""

import datetime

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from salt.exceptions import CommandExecutionError
from suite_modules import load

pki = load("_modules/fileshare_pki.py")


def _key(secret, label="fileshare lab CA"):
    return serialization.load_pem_private_key(pki.derived_key(secret, label).encode(), password=None)


def _ca(key, serial):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example lab CA")])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA384())
    )


def test_same_secret_same_p384_key():
    one, two = _key("c2VjcmV0"), _key("c2VjcmV0")
    assert isinstance(one.curve, ec.SECP384R1)
    assert one.private_numbers().private_value == two.private_numbers().private_value


def test_other_secret_or_label_other_key():
    base = _key("c2VjcmV0").private_numbers().private_value
    assert _key("c2VjcmV1").private_numbers().private_value != base
    assert _key("c2VjcmV0", "another use").private_numbers().private_value != base


def test_empty_secret_is_refused():
    with pytest.raises(CommandExecutionError, match="empty"):
        pki.derived_key("")


def test_pem_never_contains_the_secret():
    assert "c2VjcmV0" not in pki.derived_key("c2VjcmV0")


def test_certificate_signed_with_one_nodes_ca_verifies_with_anothers():
    key_node1, key_node2 = _key("tsig"), _key("tsig")
    ca_node1, ca_node2 = _ca(key_node1, 1), _ca(key_node2, 2)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files.example.lab")]))
        .issuer_name(ca_node2.subject)
        .public_key(leaf_key.public_key())
        .serial_number(3)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key_node2, hashes.SHA256())
    )
    leaf.verify_directly_issued_by(ca_node1)
    with pytest.raises(InvalidSignature):
        leaf.verify_directly_issued_by(_ca(_key("other"), 4))
