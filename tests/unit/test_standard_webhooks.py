"""Our webhook signatures checked with the Standard Webhooks reference library, as a partner would."""

from __future__ import annotations

import json

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.common import signing
from services.common.directory import Webhook as PartnerWebhook

BODY = json.dumps({"type": "case.routed", "case_ref": "GRV-0123456789AB"}).encode()


def test_a_partner_verifies_our_webhook_with_the_reference_library():
    secret = signing.generate()
    headers = signing.headers(secret, "dlv_1", BODY)
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_plain_text_secret_from_before_signs_as_its_whsec_form():
    legacy = "demo-secret-ngo-np-change-me"
    stored = PartnerWebhook(url="https://partner.example/hook", secret=legacy)
    assert stored.secret == signing.as_whsec(legacy) and stored.secret.startswith("whsec_")
    headers = signing.headers(legacy, "dlv_2", BODY)  # what a receiver built on the old text already checks
    assert signing.headers(stored.secret, "dlv_2", BODY, int(headers["webhook-timestamp"])) == headers
    Webhook(stored.secret).verify(BODY, headers)


def test_during_a_rotation_both_secrets_verify_and_a_stranger_does_not():
    new, old = signing.generate(), signing.generate()
    hook = PartnerWebhook(url="https://partner.example/hook", secret=new, previous_secret=old)
    headers = signing.headers(hook.secrets, "dlv_3", BODY)
    assert len(headers["webhook-signature"].split()) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.generate()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(BODY + b" ", headers)


@pytest.mark.parametrize("bad", ["whsec_not*base64", "whsec_" + "QUJD" * 2])
def test_malformed_or_short_whsec_secrets_are_refused(bad):
    with pytest.raises(ValueError):
        PartnerWebhook(url="https://partner.example/hook", secret=bad)
