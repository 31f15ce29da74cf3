"""Schemathesis hooks for the API's conformance test (api/openapi-conformance.test.ts).

They make schemathesis play by the two rules of the API that a schema cannot state:

- The payment provider signs its webhooks. A webhook whose signature header has the documented
  form is sent with a genuine signature of the body it carries, as the provider would send it; a
  missing or malformed header goes as generated, so its refusal is checked too.
- A client uses a new Idempotency-Key for a new order (reusing one with another body is 422 by
  design). A generated key already sent with another body is replaced by a fresh one; a repeat of
  the same key and body goes as generated and gets the first answer again.
"""

import hashlib
import hmac
import json
import os
import re
import time
import uuid

import schemathesis

WEBHOOK_PATH = "/api/v1/payments/webhook"
SIGNATURE_HEADER = "payment-signature"
SIGNATURE_FORM = re.compile(r"^t=\d+(,v\d+=[0-9a-f]+)+$")
SECRET = os.environ["PAYMENT_WEBHOOK_SECRET"].encode()

ORDERS_PATH = "/api/v1/orders"
IDEMPOTENCY_HEADER = "idempotency-key"
bodies_by_key: dict[str, bytes] = {}


def raw_body(case) -> bytes:
    """The bytes requests sends for the case's body (its `json=` encoding), which the signature covers."""
    if isinstance(case.body, (bytes, bytearray)):
        return bytes(case.body)
    if case.body is None or type(case.body).__name__ == "NotSet":
        return b""
    return json.dumps(case.body, allow_nan=False).encode()


def sign_webhook(case) -> None:
    if not SIGNATURE_FORM.match(str(case.headers.get(SIGNATURE_HEADER, ""))):
        return
    timestamp = int(time.time())
    digest = hmac.new(SECRET, f"{timestamp}.".encode() + raw_body(case), hashlib.sha256).hexdigest()
    case.headers[SIGNATURE_HEADER] = f"t={timestamp},v1={digest}"


def new_key_for_new_order(case) -> None:
    key = case.headers.get(IDEMPOTENCY_HEADER)
    if not isinstance(key, str):
        return
    body = raw_body(case)
    if bodies_by_key.setdefault(key, body) != body:
        key = str(uuid.uuid4())
        bodies_by_key[key] = body
        case.headers[IDEMPOTENCY_HEADER] = key


@schemathesis.hook
def before_call(context, case, kwargs):
    # A negative case is refused before either rule matters; editing it would make schemathesis
    # read it again as it now stands, and send the headers it means to leave out.
    if not case.headers or (case.meta is not None and not case.meta.generation.mode.is_positive):
        return
    if case.path == WEBHOOK_PATH:
        sign_webhook(case)
    elif case.path == ORDERS_PATH and case.method.upper() == "POST":
        new_key_for_new_order(case)
