"""Sealed-envelope throughput: 1 KiB messages, sealed (encrypt + sign) and opened (verify +
decrypt), against the raw ``cryptography`` primitives in the same run.

sitroom: the sender's chain stepped (two HMAC-SHA256, ratchet.py) for each message's own key,
then ``envelope.seal`` (the header canonicalised with RFC 8785 as the AEAD's associated data,
AES-256-GCM, an Ed25519 signature over the canonical header, nonce and ciphertext, base64url
fields) and ``orjson.dumps`` — the body a channel carries; and ``envelope.open_envelope`` on that
text (parse, track check, signature, epoch membership, replay window, expiry, one step along
the sender's chain, decryption).

Baselines: the same primitives with nothing around them — AES-256-GCM over the 1 KiB with a
fixed 64-byte associated data, then Ed25519 over nonce + ciphertext, and the reverse; once with
one key for every message, once with the two HMACs of the chain giving each message a new key
(the raw ratchet). The ratios are sitroom's envelope overhead. Also measured: the seal with the
chain stored on disk after every message (adapters/chainfile.py: encrypted, written atomically)
as the room does, which is the price of a crash never reusing a key.

    python bench/secure_envelope.py [--messages 20000] [--size 1024] [--aead aes-256-gcm]
"""

from __future__ import annotations

import argparse
import hmac
import os
import tempfile
import time
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sitroom.adapters.chainfile import ChainFiles
from sitroom.adapters.keystore import new_secret
from sitroom.domain.secure.envelope import Header, Window, open_envelope, seal
from sitroom.domain.secure.epochs import AEADS, Epoch, epoch_record
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.ratchet import Chains, ChainState, chain_root

import _home  # noqa: F401  (a scratch $SITROOM_HOME: key files go with the run)

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
    chain = ChainState(0, chain_root(secret, "us-iran", 1, "washington", aead))
    started = time.perf_counter()
    bodies = []
    for i in range(n):
        key, chain = chain.advance()
        header = Header("us-iran", 1, "washington", f"m-{i}", 1_000, chain.n, aead)
        bodies.append(orjson.dumps(seal(payload, header, key, sender, nonces[i])))
    sealed_s = time.perf_counter() - started
    windows: dict[str, Window] = {}
    walks = Chains()
    started = time.perf_counter()
    for body in bodies:
        opened = open_envelope(
            orjson.loads(body),
            track="us-iran",
            identities=known.get,
            epoch=lambda t, e: epoch,
            window=lambda k: windows.get(k, Window()),
            chains=walks,
        )
        windows[opened.header.key] = windows.get(opened.header.key, Window()).accept(
            opened.header.n
        )
    opened_s = time.perf_counter() - started
    assert opened.plaintext == payload
    return n / sealed_s, n / opened_s


def run_stored(n: int, size: int, aead: str) -> float:
    """Sealing with the chain stepped and stored on disk before each envelope is made."""
    sender = new_secret("washington", "site")
    secret, payload = os.urandom(32), os.urandom(size)
    with tempfile.TemporaryDirectory() as folder:
        chains = ChainFiles(Path(folder))

        def step(kept: ChainState | None) -> tuple[bytes, ChainState]:
            start = kept or ChainState(0, chain_root(secret, "us-iran", 1, sender.name, aead))
            return start.advance()

        started = time.perf_counter()
        for i in range(n):
            key, after = chains.advance(sender, "us-iran", 1, step)
            header = Header("us-iran", 1, sender.name, f"m-{i}", 1_000, after.n, aead)
            orjson.dumps(seal(payload, header, key, sender, os.urandom(12)))
        return n / (time.perf_counter() - started)


def run_raw_ratchet(n: int, size: int, aead: str, signer: Secret) -> float:
    """The raw primitives of a ratcheted seal: two HMACs, the AEAD under the new key, Ed25519."""
    ck, payload, aad = os.urandom(32), os.urandom(size), os.urandom(64)
    nonces = [os.urandom(12) for _ in range(n)]
    started = time.perf_counter()
    for nonce in nonces:
        mk, ck = hmac.digest(ck, b"\x01", "sha256"), hmac.digest(ck, b"\x02", "sha256")
        ct = AEADS[aead](mk).encrypt(nonce, payload, aad)
        signer.sign(nonce + ct)
    return n / (time.perf_counter() - started)


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
    ap.add_argument("--stored", type=int, default=500, help="messages sealed with a disk store")
    args = ap.parse_args()
    s_seal, s_open = run_sitroom(args.messages, args.size, args.aead)
    r_seal, r_open = run_raw(args.messages, args.size, args.aead)
    rr_seal = run_raw_ratchet(args.messages, args.size, args.aead, new_secret("w", "site"))
    stored = run_stored(args.stored, args.size, args.aead)
    print(f"{args.messages:,} messages of {args.size:,} bytes, {args.aead} + Ed25519")
    print(f"sitroom seal (ratchet + encrypt + sign, JSON body): {s_seal:,.0f} msg/s")
    print(f"sitroom open (verify + checks + ratchet + decrypt): {s_open:,.0f} msg/s")
    print(f"raw primitives, encrypt + sign (one key):           {r_seal:,.0f} msg/s")
    print(f"raw primitives, 2 HMAC + encrypt + sign (ratchet):  {rr_seal:,.0f} msg/s")
    print(f"raw primitives, verify + decrypt:                   {r_open:,.0f} msg/s")
    print(f"sitroom seal, chain stored on disk each message:    {stored:,.0f} msg/s")
    print(
        f"envelope overhead (raw / sitroom): seal {rr_seal / s_seal:.2f}x against the raw "
        f"ratchet (goal <= 2x), {r_seal / s_seal:.2f}x against one key; "
        f"open {r_open / s_open:.2f}x"
    )


if __name__ == "__main__":
    main()
