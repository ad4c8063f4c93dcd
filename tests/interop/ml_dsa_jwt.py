"""ML-DSA JWTs with Python's `cryptography` (OpenSSL), independently of the Rust code.

    mint LEVEL ISSUER AUDIENCE SUBJECT   prints {"jwk": ..., "token": ...}: a new key of the
                                         ML-DSA level and a token signed with it
    verify JWKS_URL ISSUER AUDIENCE      reads a token on stdin, fetches the key set, checks
                                         the signature and the claims; prints the claims, or
                                         exits 1 with the reason

Keys are JWKs of type AKP (`pub`: the raw public key, base64url), the JWS `alg` is the level
name, as in the JOSE ML-DSA draft. Signatures use the empty context.
"""

import base64
import hashlib
import json
import sys
import time
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mldsa

LEVELS = {
    "ML-DSA-44": (mldsa.MLDSA44PrivateKey, mldsa.MLDSA44PublicKey),
    "ML-DSA-65": (mldsa.MLDSA65PrivateKey, mldsa.MLDSA65PublicKey),
    "ML-DSA-87": (mldsa.MLDSA87PrivateKey, mldsa.MLDSA87PublicKey),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(level: str, issuer: str, audience: str, subject: str) -> None:
    private_class, _ = LEVELS[level]
    key = private_class.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    thumbprint = json.dumps(
        {"alg": level, "kty": "AKP", "pub": b64url(public)},
        separators=(",", ":"),
        sort_keys=True,
    )
    kid = b64url(hashlib.sha256(thumbprint.encode()).digest())
    jwk = {"kty": "AKP", "alg": level, "use": "sig", "kid": kid, "pub": b64url(public)}
    now = int(time.time())
    header = {"alg": level, "typ": "JWT", "kid": kid}
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": "admin",
        "iat": now,
        "exp": now + 300,
    }
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    )
    signature = key.sign(signing_input.encode())
    print(json.dumps({"jwk": jwk, "token": signing_input + "." + b64url(signature)}))


def verify(jwks_url: str, issuer: str, audience: str) -> None:
    token = sys.stdin.read().strip()
    header_b64, claims_b64, signature_b64 = token.split(".")
    header = json.loads(unb64url(header_b64))
    level = header.get("alg")
    if level not in LEVELS:
        sys.exit(f"algorithm {level!r} is not ML-DSA")
    with urllib.request.urlopen(jwks_url, timeout=10) as answer:
        keys = json.load(answer)["keys"]
    matching = [
        k
        for k in keys
        if k.get("kid") == header.get("kid") and k.get("kty") == "AKP" and k.get("alg") == level
    ]
    if len(matching) != 1:
        sys.exit(f"no AKP key {header.get('kid')!r} for {level} in the key set")
    _, public_class = LEVELS[level]
    public = public_class.from_public_bytes(unb64url(matching[0]["pub"]))
    try:
        public.verify(unb64url(signature_b64), f"{header_b64}.{claims_b64}".encode())
    except InvalidSignature:
        sys.exit("signature verification failed")
    claims = json.loads(unb64url(claims_b64))
    if claims.get("iss") != issuer:
        sys.exit(f"wrong issuer {claims.get('iss')!r}")
    audiences = claims.get("aud")
    audiences = audiences if isinstance(audiences, list) else [audiences]
    if audience not in audiences:
        sys.exit(f"wrong audience {claims.get('aud')!r}")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        sys.exit("expired or no exp")
    print(json.dumps(claims))


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"mint": mint, "verify": verify}[command](*args)
