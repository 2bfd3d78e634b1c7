"""SignCertificate: which CSRs the registry keeps for a charge point, and why it refuses others."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from station_registry.reports import csr_problem


def request(*subject: tuple[x509.ObjectIdentifier, str]) -> x509.CertificateSigningRequest:
    name = x509.Name([x509.NameAttribute(oid, value) for oid, value in subject])
    key = ec.generate_private_key(ec.SECP256R1())
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())


def pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def test_csr_for_this_charge_point_is_kept() -> None:
    csr = request((NameOID.ORGANIZATION_NAME, "ACME CSO"), (NameOID.COMMON_NAME, "CP-1"))
    assert csr_problem(pem(csr), "CP-1") is None


def test_csr_for_another_charge_point_names_the_cn() -> None:
    problem = csr_problem(pem(request((NameOID.COMMON_NAME, "CP-2"))), "CP-1")
    assert problem == "the CSR's commonName 'CP-2' is not this charge point's id"


@pytest.mark.parametrize(
    "subject",
    [
        (),
        ((NameOID.COMMON_NAME, "CP-1"), (NameOID.COMMON_NAME, "CP-2")),
    ],
)
def test_csr_without_exactly_one_cn_is_refused(
    subject: tuple[tuple[x509.ObjectIdentifier, str], ...],
) -> None:
    problem = csr_problem(pem(request(*subject)), "CP-1")
    assert problem is not None and "commonNames, not one" in problem


def test_csr_whose_signature_does_not_match_is_refused() -> None:
    der = request((NameOID.COMMON_NAME, "CP-9")).public_bytes(serialization.Encoding.DER)
    # The CN changed after signing: the request no longer proves who holds the key.
    forged = x509.load_der_x509_csr(der.replace(b"CP-9", b"CP-1"))
    assert csr_problem(pem(forged), "CP-1") == "the CSR's signature does not match its public key"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a CSR",
        "-----BEGIN CERTIFICATE REQUEST-----\nMIIB...\n-----END CERTIFICATE REQUEST-----",
        "-----BEGIN CERTIFICATE REQUEST-----\n"
        + "A" * 5400
        + "\n-----END CERTIFICATE REQUEST-----",
    ],
)
def test_text_that_is_no_csr_is_refused_without_echoing_it(text: str) -> None:
    problem = csr_problem(text, "CP-1")
    assert problem is not None and problem.startswith("the CSR is not a PEM")
    assert len(problem) < 255 and "AAAA" not in problem and "MIIB" not in problem
