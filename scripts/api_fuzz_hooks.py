"""schemathesis hooks for scripts/api-fuzz: OCSP request bodies (application/ocsp-request) and
EST request bodies (application/pkcs10),
which schemathesis cannot make by itself. Real DER requests (the fuzz seeds), the same with
bytes flipped or cut, and random bytes."""

import pathlib

import schemathesis
from hypothesis import strategies as st

_SEEDS = [p.read_bytes() for p in sorted((pathlib.Path(__file__).parent.parent / "fuzz" / "corpus" / "ocsp_request").glob("*"))]


def _mutated(seed):
    return st.tuples(st.integers(0, max(len(seed) - 1, 0)), st.integers(0, 255), st.booleans()).map(
        lambda t: (seed[: t[0]] + bytes([t[1]]) + seed[t[0] + 1 :]) if t[2] else seed[: t[0]]
    )


schemathesis.openapi.media_type(
    "application/ocsp-request",
    st.one_of(
        st.sampled_from(_SEEDS),
        st.sampled_from(_SEEDS).flatmap(_mutated),
        st.binary(min_size=1, max_size=4096),
    ),
)


# EST request bodies (application/pkcs10): base64 DER requests made by `openssl req`, the same
# with characters changed or cut, and random base64 and text.
_CSRS = [p.read_text() for p in sorted((pathlib.Path(__file__).parent.parent / "fuzz" / "corpus" / "est_csr").glob("*.b64"))]
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="


def _mutated_text(seed):
    return st.tuples(st.integers(0, max(len(seed) - 1, 0)), st.sampled_from(_B64), st.booleans()).map(
        lambda t: (seed[: t[0]] + t[1] + seed[t[0] + 1 :]) if t[2] else seed[: t[0]]
    )


schemathesis.openapi.media_type(
    "application/pkcs10",
    st.one_of(
        st.sampled_from(_CSRS),
        st.sampled_from(_CSRS).flatmap(_mutated_text),
        st.text(alphabet=_B64, min_size=1, max_size=2048),
        st.text(max_size=512),
    ).map(str.encode),
)
