"""Micro-benchmark of webhook signature checks: one JSON line per case on stdout.

Usage: ``.venv/bin/python bench/signatures.py``

Times `verify_signature` in this process, no server involved: a GitHub
``X-Hub-Signature-256`` over a 1 KiB and a 1 MiB body, with 1 and 3 configured
secrets, once signed with the first secret (the usual accepted webhook) and once
with a secret that is not configured (a forgery, which pays for every secret).
``value`` is the median microseconds per check; ``stats`` holds percentiles and the
HMAC throughput the median implies.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import itertools
import sys
import time
from collections.abc import Sequence

from _common import KIB, Result, json_body, percentile, progress
from gosmee_trio.server.signatures import verify_signature

MIB = 1024 * KIB
# Hypercorn hands a large body over in pieces of about this size; checking the
# chunks as they arrived is the point, so the bench feeds them the same way.
CHUNK_BYTES = 64 * KIB
# Enough runs for a steady median (well under a second per case at these sizes).
RUNS = {KIB: 20_000, MIB: 200}
WARM_UP_RUNS = 20
SECRETS = ("new-webhook-secret", "old-webhook-secret", "other-team-secret")


def main() -> int:
    for size, count, outcome in itertools.product(
        (KIB, MIB), (1, 3), ("accepted", "rejected")
    ):
        result = signature_check(size, SECRETS[:count], outcome)
        progress(f"{size} B, {count} secret(s), {outcome}: {result.value:.3f} µs")
        print(result.to_json(), flush=True)
    return 0


def signature_check(size: int, secrets: Sequence[str], outcome: str) -> Result:
    """Median microseconds for one `verify_signature` call in the given case."""
    body = json_body(size, event="push")
    chunks = [body[i : i + CHUNK_BYTES] for i in range(0, size, CHUNK_BYTES)]
    signer = secrets[0] if outcome == "accepted" else "not-a-configured-secret"
    digest = hmac.new(signer.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-hub-signature-256": f"sha256={digest}"}
    if verify_signature(headers, chunks, secrets) != (outcome == "accepted"):
        raise RuntimeError(f"expected the check to end {outcome}, but it did not")

    runs = RUNS[size]
    samples = sorted(_time_checks(headers, chunks, secrets, runs))
    median = percentile(samples, 50)
    hashed = size * (1 if outcome == "accepted" else len(secrets))
    return Result(
        name="signature_check",
        value=median,
        unit="us",
        parameters={
            "form": "github x-hub-signature-256",
            "body_bytes": size,
            "chunk_bytes": min(size, CHUNK_BYTES),
            "secrets": len(secrets),
            "outcome": outcome,
            "signed_with": "first secret" if outcome == "accepted" else "no secret",
            "runs": runs,
        },
        stats={
            "min_us": round(samples[0], 3),
            "p90_us": round(percentile(samples, 90), 3),
            "p99_us": round(percentile(samples, 99), 3),
            "hmac_mib_per_s": round(hashed / MIB / (median / 1e6), 1),
            "python": sys.version.split()[0],
        },
    )


def _time_checks(
    headers: dict[str, str], chunks: list[bytes], secrets: Sequence[str], runs: int
) -> list[float]:
    for _ in range(WARM_UP_RUNS):
        verify_signature(headers, chunks, secrets)
    samples: list[float] = []
    # A collection pass landing inside one timed call would only add noise.
    gc.disable()
    try:
        for _ in range(runs):
            start = time.perf_counter_ns()
            verify_signature(headers, chunks, secrets)
            samples.append((time.perf_counter_ns() - start) / 1000)
    finally:
        gc.enable()
    return samples


if __name__ == "__main__":
    sys.exit(main())
