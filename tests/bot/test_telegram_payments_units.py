"""Unit tests: invoice payload signing, the Stars/card rounding rule, the callback_data codec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import callbacks
from payments.payload import PayloadError, sign_payload, verify_payload
from payments.telegram_invoices import card_minor_for, expected_total, stars_for

SECRET = "s3cret"


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_payload_round_trips_and_fits_telegram(order_id: int) -> None:
    payload = sign_payload(order_id, SECRET)
    assert 1 <= len(payload.encode()) <= 128
    assert verify_payload(payload, SECRET) == order_id


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=0, max_value=21))
def test_any_changed_character_is_refused(order_id: int, position: int) -> None:
    payload = sign_payload(order_id, SECRET)
    mac_start = payload.index(".") + 1
    i = mac_start + position
    swapped = payload[:i] + ("A" if payload[i] != "A" else "B") + payload[i + 1:]
    with pytest.raises(PayloadError):
        verify_payload(swapped, SECRET)


@pytest.mark.parametrize("payload", [
    "", "42", "42.", ".abc", "042." + "A" * 22, "-1." + "A" * 22, "42." + "A" * 21, "42." + "A" * 23,
    "42.AAAAAAAAAAAAAAAAAAAAA=", "x" * 200, "99999999999999999999." + "A" * 22,
])
def test_malformed_payloads_are_refused(payload: str) -> None:
    with pytest.raises(PayloadError):
        verify_payload(payload, SECRET)


def test_other_secret_or_other_order_is_refused() -> None:
    with pytest.raises(PayloadError):
        verify_payload(sign_payload(7, "other"), SECRET)
    mac = sign_payload(7, SECRET).split(".")[1]
    with pytest.raises(PayloadError):
        verify_payload(f"8.{mac}", SECRET)
    with pytest.raises(ValueError):
        sign_payload(0, SECRET)
    with pytest.raises(ValueError):
        sign_payload(1, "")


def test_stars_round_up_to_whole_stars() -> None:
    assert stars_for(100, 77) == 77
    assert stars_for(850, 77) == 655  # 654.5 -> 655
    assert stars_for(1, 77) == 1  # 0.77 -> 1
    assert stars_for(1, 1) == 1  # 0.01 -> 1, never 0


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10_000))
def test_stars_never_undercharge(amount: int, rate: int) -> None:
    stars = stars_for(amount, rate)
    assert stars * 100 >= amount * rate > (stars - 1) * 100 or stars == 1


def test_card_amounts_in_currency_minor_units() -> None:
    assert card_minor_for(450, "USD") == 450
    assert card_minor_for(450, "JPY") == 5  # 4.50 -> 5 yen, rounded up
    assert expected_total(450, "XTR", stars_per_tfc=77, card_currency="USD") == 347
    assert expected_total(450, "EUR", stars_per_tfc=77, card_currency="USD") is None


def test_callback_codec_round_trip_and_limits() -> None:
    data = callbacks.encode("pay", 2**63 - 1, "stars")
    assert len(data.encode()) <= 64
    decoded = callbacks.decode(data)
    assert (decoded.action, decoded.int_arg(0), decoded.args[1]) == ("pay", 2**63 - 1, "stars")
    assert callbacks.decode(callbacks.encode("svc", "a" * 32)).args == ("a" * 32,)
    assert callbacks.decode("v1:menu").args == ()


@pytest.mark.parametrize("data", [
    "", "v2:menu", "v1:", "v1:nope", "v1:menu:x", "v1:pay:1", "v1:pay:1:paypal", "v1:pay:01:stars",
    "v1:svc:UPPER", "v1:svc:" + "a" * 33, "v1:hist:-1", "v1:ok:1:2", "x" * 65, "v1:ok:1e3",
])
def test_callback_codec_refuses_malformed(data: str) -> None:
    with pytest.raises(callbacks.CallbackError):
        callbacks.decode(data)


def test_callback_codec_refuses_to_encode_bad_data() -> None:
    with pytest.raises(ValueError):
        callbacks.encode("pay", 1, "paypal")
    with pytest.raises(ValueError):
        callbacks.encode("unknown")


def test_register_action_for_a_new_feature() -> None:
    callbacks.register_action("dep", (callbacks.INT,))
    assert callbacks.decode("v1:dep:5").int_arg(0) == 5
    assert callbacks.pattern("dep").match("v1:dep:5")
    assert not callbacks.pattern("dep").match("v1:deploy:5")
    with pytest.raises(ValueError):
        callbacks.register_action("dep", (callbacks.SLUG,))
