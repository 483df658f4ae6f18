"""Sealed-envelope throughput: 1 KiB messages, sealed (encrypt + sign) and opened (verify +
decrypt), against the raw ``cryptography`` primitives in the same run.

sitroom: ``envelope.seal`` (the header canonicalised with RFC 8785 as the AEAD's associated
data, the sender's message key derived with HKDF, AES-256-GCM, an Ed25519 signature over the
canonical header, nonce and ciphertext, base64url fields) then ``orjson.dumps`` — the body a
channel carries; and ``envelope.open_envelope`` on that text (parse, track check, signature,
epoch membership, replay window, expiry, decryption).

Baseline: the same primitives with nothing around them — AES-256-GCM over the 1 KiB with a
fixed 64-byte associated data and one key, then Ed25519 over nonce + ciphertext; and the
reverse. The ratio is sitroom's envelope overhead.

    python bench/secure_envelope.py [--messages 20000] [--size 1024] [--aead aes-256-gcm]
"""

from __future__ import annotations

import argparse
import os
import time

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.envelope import Header, Window, open_envelope, seal
from sitroom.domain.secure.epochs import AEADS, Epoch, epoch_record

DAY = 86_400_000


def run_sitroom(n: int, size: int, aead: str) -> tuple[float, float]:
    sender, receiver = new_secret("washington", "site"), new_secret("tehran", "site")
    secret = os.urandom(32)
    ep = epoch_record(
        "us-iran",
        1,
        secret,
        [sender.identity, receiver.identity],
        sender,
        now_ms=0,
        cryptoperiod_ms=30 * DAY,
        aead=aead,
        reason="bench",
    ).payload
    epoch = (Epoch.from_payload(ep), secret)
    known = {"washington": sender.identity}
    payload = os.urandom(size)
    nonces = [os.urandom(12) for _ in range(n)]
    started = time.perf_counter()
    bodies = [
        orjson.dumps(
            seal(
                payload,
                Header("us-iran", 1, "washington", f"m-{i}", 1_000, i + 1, aead),
                secret,
                sender,
                nonces[i],
            )
        )
        for i in range(n)
    ]
    sealed_s = time.perf_counter() - started
    windows: dict[str, Window] = {}
    started = time.perf_counter()
    for body in bodies:
        opened = open_envelope(
            orjson.loads(body),
            track="us-iran",
            identities=known.get,
            epoch=lambda t, e: epoch,
            window=lambda k: windows.get(k, Window()),
        )
        windows[opened.header.key] = windows.get(opened.header.key, Window()).accept(
            opened.header.n
        )
    opened_s = time.perf_counter() - started
    assert opened.plaintext == payload
    return n / sealed_s, n / opened_s


def run_raw(n: int, size: int, aead: str) -> tuple[float, float]:
    key = os.urandom(32)
    cipher = AEADS[aead](key)
    signer = Ed25519PrivateKey.generate()
    verifier = signer.public_key()
    payload, aad = os.urandom(size), os.urandom(64)
    nonces = [os.urandom(12) for _ in range(n)]
    started = time.perf_counter()
    out = []
    for nonce in nonces:
        ct = cipher.encrypt(nonce, payload, aad)
        out.append((nonce, ct, signer.sign(nonce + ct)))
    sealed_s = time.perf_counter() - started
    started = time.perf_counter()
    for nonce, ct, sig in out:
        verifier.verify(sig, nonce + ct)
        plain = cipher.decrypt(nonce, ct, aad)
    opened_s = time.perf_counter() - started
    assert plain == payload
    return n / sealed_s, n / opened_s


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--aead", default="aes-256-gcm", choices=sorted(AEADS))
    args = ap.parse_args()
    s_seal, s_open = run_sitroom(args.messages, args.size, args.aead)
    r_seal, r_open = run_raw(args.messages, args.size, args.aead)
    print(f"{args.messages:,} messages of {args.size:,} bytes, {args.aead} + Ed25519")
    print(f"sitroom seal (encrypt + sign, JSON body): {s_seal:,.0f} msg/s")
    print(f"sitroom open (verify + checks + decrypt): {s_open:,.0f} msg/s")
    print(f"raw primitives, encrypt + sign:           {r_seal:,.0f} msg/s")
    print(f"raw primitives, verify + decrypt:         {r_open:,.0f} msg/s")
    print(
        f"envelope overhead (raw / sitroom): seal {r_seal / s_seal:.2f}x, "
        f"open {r_open / s_open:.2f}x"
    )


if __name__ == "__main__":
    main()
