"""The service as a confidential OAuth client, judged by Bluesky's own code: its metadata
document parsed by ``@atproto/oauth-types``, its client assertion authenticated by
``@atproto/oauth-provider``'s ``Client`` (the checks an authorization server makes at PAR,
token, refresh and revocation), and the grant lifetime that gives it. (The local PDS cannot
fetch a document from an https portal on loopback, so the full flow there runs as AT
Protocol's loopback client: ``test_bluesky_follows.py``.)"""

from __future__ import annotations

import json
import subprocess

import pytest

from bsky_service import oauth
from testworld.bluesky.install import ensure_installed

pytestmark = pytest.mark.integration
SECRET = "the-service-secret-key-0123456789abcdef"
ISSUER = "https://bsky.social"

# Run in the installed network's folder: Bluesky's packages, as its PDS runs them.
JUDGE = """
import { pathToFileURL } from 'node:url'
import { oauthClientMetadataSchema } from '@atproto/oauth-types'
const provider = pathToFileURL(process.cwd() + '/node_modules/@atproto/oauth-provider/dist/')
const { Client } = await import(new URL('client/client.js', provider))
const { SESSION_LIFETIME_EXTENDED } = await import(new URL('oauth-constants.js', provider))
const [document, form, issuer] = JSON.parse(process.argv[1])
const metadata = oauthClientMetadataSchema.parse(document)
const client = new Client(document.client_id, metadata, metadata.jwks,
                          { isFirstParty: false, isTrusted: false })
let verdict
try {
  const auth = await client.authenticate(form, { authorizationServerIdentifier: issuer })
  verdict = { method: auth.method, kid: auth.kid, confidential: client.isConfidential,
              twoYears: client.sessionLifetime === SESSION_LIFETIME_EXTENDED }
} catch (error) {
  verdict = { refused: String(error.message) }
}
console.log(JSON.stringify(verdict))
"""


def judge(document: dict[str, object], form: dict[str, str]) -> dict[str, object]:
    installation = ensure_installed()
    done = subprocess.run(
        [str(installation.node), "--input-type=module", "-e", JUDGE,
         json.dumps([document, form, ISSUER])],
        cwd=installation.root, capture_output=True, text=True, timeout=60,
        env=installation.environment(), check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_bluesky_takes_the_service_as_a_confidential_client() -> None:
    document = oauth.client_metadata("https://hqx.example", SECRET)
    client = oauth.client_for("https://hqx.example", SECRET)
    verdict = judge(document, client.auth(ISSUER))
    assert verdict == {
        "method": "private_key_jwt",
        "kid": oauth.client_key(SECRET).kid,
        "confidential": True,
        "twoYears": True,
    }, verdict


@pytest.mark.parametrize(
    ("secret", "issuer", "refused"),
    [
        ("another-secret-key-of-someone-else-0123", ISSUER, "client_assertion"),
        (SECRET, "https://elsewhere.example", "aud"),
    ],
    ids=["signed-by-another-key", "for-another-server"],
)
def test_an_assertion_by_another_key_or_for_another_server_is_refused(
    secret: str, issuer: str, refused: str
) -> None:
    document = oauth.client_metadata("https://hqx.example", SECRET)
    forged = oauth.client_for("https://hqx.example", secret).auth(issuer)
    verdict = judge(document, forged)
    assert "refused" in verdict and refused in str(verdict["refused"]), verdict
