"""The security layer's pure core: identities, track epoch keys, sealed and signed envelopes,
key wear, access by compartment, the audit chain and signed agreements.

Nothing here reads the clock, mints ids or touches a file: keys, nonces and times are passed
in. The cryptography is the ``cryptography`` library's (Ed25519, X25519, HKDF, HPKE, AEADs);
what this package adds is what is bound to what — a track's id into its keys, a message's
header into its AEAD, every party's signature into an agreement — and the reasons, in words,
for everything it refuses. See docs/secure.md.
"""
