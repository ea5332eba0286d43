"""schemathesis hooks for scripts/api-fuzz: OCSP request bodies (application/ocsp-request),
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
