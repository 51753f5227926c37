"""Shared by the Android gateway's tests: its simulator's phones for the test pool numbers, the
settings a worker needs to send through it, and webhook requests signed as the app signs them."""

import json
import time

from messaging.gateways.android.simulator import (
    DEFAULT_KEY,
    DEFAULT_PASSWORD,
    DEFAULT_USER,
    Phone,
    sign,
)

# The test pool (+12025550100 to 104) on two phones, the first with two SIMs.
PHONES = [
    Phone("+12025550100", "phoneA00000000000000a", 1),
    Phone("+12025550101", "phoneA00000000000000a", 2),
    Phone("+12025550102", "phoneB00000000000000b", 1),
    Phone("+12025550103", "phoneC00000000000000c", 1),
    Phone("+12025550104", "phoneD00000000000000d", 1),
]
SENDERS = {p.number: {"device_id": p.device_id, "sim": p.sim} for p in PHONES}


def gateway_env(simulator, **extra) -> dict:
    """The environment a worker needs to send through ``simulator``'s cloud API, as the
    README's settings table names it."""
    return {
        "GROUPFLIER_SMS_GATEWAY": "android",
        "ANDROID_GATEWAY_URL": simulator.cloud_url,
        "ANDROID_GATEWAY_USER": DEFAULT_USER,
        "ANDROID_GATEWAY_PASSWORD": DEFAULT_PASSWORD,
        "ANDROID_GATEWAY_WEBHOOK_KEY": DEFAULT_KEY,
        "ANDROID_GATEWAY_SENDERS": json.dumps(SENDERS),
        **extra,
    }


def signed_headers(body: str, *, key: str = DEFAULT_KEY, timestamp: int | None = None) -> dict:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Signature": sign(key, body, stamp), "X-Timestamp": stamp}


def event(
    name: str, payload: dict, *, event_id="Ey6ECgOkVVFjz3CL48B8C", device="phoneA00000000000000a"
):
    """A webhook body as the app posts it."""
    return json.dumps(
        {
            "deviceId": device,
            "event": name,
            "id": event_id,
            "payload": payload,
            "webhookId": "LreFUt-Z3sSq0JufY9uWB",
        }
    )
