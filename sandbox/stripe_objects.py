"""Builders for Stripe-shaped JSON objects used by the Stripe emulator.

Each function returns a plain dict laid out like the real API's object (checkout.session,
payment_intent, charge, refund, dispute, event, list). Field sets follow the objects the real
API returns; fields the emulator has no behaviour for carry their default value (null, false,
empty).
"""

from __future__ import annotations

import secrets
import string
from typing import Any

_ALNUM = string.ascii_letters + string.digits

# Currencies Stripe accepts for card payments (lowercase ISO 4217), hand-picked common set.
CURRENCIES = frozenset(
    """usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bif bmd bnd bob brl bsd
    bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp
    gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jpy kes kgs khr kmf krw kyd
    kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio
    nok npr nzd pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle
    sos srd std szl thb tjs top try ttd twd tzs uah ugx uyu uzs vnd vuv wst xaf xcd xof xpf
    yer zar zmw""".split()
)
ZERO_DECIMAL = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
# Minimum charge amounts in minor units (Stripe's published table, common currencies).
MINIMUM_AMOUNT = {
    "usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "chf": 50, "nzd": 50,
    "sgd": 50, "hkd": 400, "jpy": 50, "dkk": 250, "nok": 300, "sek": 300, "pln": 200,
    "czk": 1500, "huf": 17500, "mxn": 1000, "brl": 50, "inr": 50, "aed": 200,
}
MAX_AMOUNT = 99_999_999


def new_id(prefix: str, length: int = 24) -> str:
    """An id like Stripe's: prefix plus random alphanumerics (`cs_test_a1B2...`)."""
    # One read of the system's randomness per id, not one per character (a 62-letter alphabet
    # over bytes leans a little towards its first letters; nothing here needs more).
    return prefix + "".join(_ALNUM[b % len(_ALNUM)] for b in secrets.token_bytes(length))


def format_amount(amount: int, currency: str) -> str:
    if currency in ZERO_DECIMAL:
        return f"{amount} {currency}"
    return f"{amount / 100:.2f} {currency}"


def empty_address() -> dict[str, None]:
    return {k: None for k in ("city", "country", "line1", "line2", "postal_code", "state")}


def list_object(data: list[dict[str, Any]], url: str, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def checkout_session(
    *,
    sid: str,
    params: dict[str, Any],
    amount_total: int | None,
    currency: str | None,
    created: int,
    expires_at: int,
    url: str | None,
) -> dict[str, Any]:
    mode = params["mode"]
    ui_mode = params.get("ui_mode", "hosted")
    return {
        "id": sid,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": params.get("allow_promotion_codes"),
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": params.get("billing_address_collection"),
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "client_secret": f"{sid}_secret_{new_id('', 24)}" if ui_mode != "hosted" else None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "created": created,
        "currency": currency,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None, "shipping_address": None, "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": params.get("customer"),
        "customer_creation": params.get("customer_creation", "if_required")
        if mode == "payment" else None,
        "customer_details": None,
        "customer_email": params.get("customer_email"),
        "discounts": [],
        "expires_at": expires_at,
        "invoice": None,
        "invoice_creation": {"enabled": False, "invoice_data": {
            "account_tax_ids": None, "custom_fields": None, "description": None,
            "footer": None, "issuer": None, "metadata": {}, "rendering_options": None,
        }} if mode == "payment" else None,
        "livemode": False,
        "locale": params.get("locale"),
        "metadata": params.get("metadata", {}),
        "mode": mode,
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "if_required" if mode != "payment" else None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": params.get("payment_method_types", ["card"]),
        "payment_status": "unpaid" if mode != "setup" else "no_payment_required",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "return_url": params.get("return_url"),
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": params.get("submit_type"),
        "subscription": None,
        "success_url": params.get("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
        if amount_total is not None else None,
        "ui_mode": ui_mode,
        "url": url,
        "wallet_options": None,
    }


def line_item(item: dict[str, Any], currency: str, product_id: str) -> dict[str, Any]:
    price_data = item["price_data"]
    unit = price_data["unit_amount"]
    qty = item.get("quantity", 1)
    name = price_data.get("product_data", {}).get("name")
    return {
        "id": new_id("li_"),
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": unit * qty,
        "amount_tax": 0,
        "amount_total": unit * qty,
        "currency": currency,
        "description": name,
        "price": {
            "id": new_id("price_"), "object": "price", "active": False,
            "billing_scheme": "per_unit", "created": 0, "currency": currency,
            "custom_unit_amount": None, "livemode": False, "lookup_key": None, "metadata": {},
            "nickname": None, "product": product_id, "recurring": None,
            "tax_behavior": price_data.get("tax_behavior", "unspecified"), "tiers_mode": None,
            "transform_quantity": None, "type": "one_time", "unit_amount": unit,
            "unit_amount_decimal": str(unit),
        },
        "quantity": qty,
    }


def payment_intent(
    *, pid: str, amount: int, currency: str, created: int, metadata: dict[str, str],
    method_type: str, description: str | None = None,
) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic_async",
        "client_secret": f"{pid}_secret_{new_id('', 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": None,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": new_id("pm_"),
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": [method_type],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def _method_details(method_type: str, amount: int) -> dict[str, Any]:
    if method_type == "card":
        return {"type": "card", "card": {
            "amount_authorized": amount, "authorization_code": None, "brand": "visa",
            "checks": {"address_line1_check": None, "address_postal_code_check": None,
                       "cvc_check": "pass"},
            "country": "US", "exp_month": 12, "exp_year": 2034,
            "extended_authorization": {"status": "disabled"}, "fingerprint": new_id("", 16),
            "funding": "credit", "incremental_authorization": {"status": "unavailable"},
            "installments": None, "last4": "4242", "mandate": None,
            "multicapture": {"status": "unavailable"}, "network": "visa",
            "network_token": {"used": False}, "network_transaction_id": new_id("", 15),
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "regulated_status": "unregulated", "three_d_secure": None, "wallet": None,
        }}
    return {"type": method_type, method_type: {
        "account_holder_type": "individual", "account_type": "checking",
        "bank_name": "STRIPE TEST BANK", "fingerprint": new_id("", 16), "last4": "6789",
        "mandate": new_id("mandate_"), "payment_reference": None, "routing_number": "110000000",
    }}


def charge(
    *, cid: str, pi: dict[str, Any], created: int, status: str, billing_email: str | None,
) -> dict[str, Any]:
    amount = pi["amount"]
    method_type = pi["payment_method_types"][0]
    paid = status == "succeeded"
    return {
        "id": cid,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if paid else 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id("txn_") if paid else None,
        "billing_details": {"address": empty_address(), "email": billing_email,
                            "name": "Jenny Rosen", "phone": None, "tax_id": None},
        "calculated_statement_descriptor": "GRIDSHOP",
        "captured": paid,
        "created": created,
        "currency": pi["currency"],
        "customer": None,
        "description": pi["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": dict(pi["metadata"]),
        "on_behalf_of": None,
        "outcome": {
            "advice_code": None, "network_advice_code": None, "network_decline_code": None,
            "network_status": "approved_by_network", "reason": None, "risk_level": "normal",
            "risk_score": 20, "seller_message": "Payment complete.", "type": "authorized",
        },
        "paid": paid,
        "payment_intent": pi["id"],
        "payment_method": pi["payment_method"],
        "payment_method_details": _method_details(method_type, amount),
        "radar_options": {},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{new_id('', 40)}",
        "refunded": False,
        "refunds": list_object([], f"/v1/charges/{cid}/refunds", False),
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
    }


def refund(
    *, rid: str, ch: dict[str, Any], amount: int, created: int, reason: str | None,
    metadata: dict[str, str],
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "refund",
        "amount": amount,
        "balance_transaction": new_id("txn_"),
        "charge": ch["id"],
        "created": created,
        "currency": ch["currency"],
        "description": None,
        "destination_details": {"card": {"reference_status": "pending", "reference_type":
                                         "acquirer_reference_number", "type": "refund"},
                                "type": "card"},
        "failure_balance_transaction": None,
        "failure_reason": None,
        "metadata": metadata,
        "payment_intent": ch["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def balance_transaction(
    *, source: str, amount: int, currency: str, created: int, type: str, description: str,
    reporting_category: str, fee: int = 0,
) -> dict[str, Any]:
    """A `balance_transaction` (spec: components/schemas/balance_transaction), as a dispute
    embeds them in `balance_transactions` and a failed refund names its
    `failure_balance_transaction`."""
    return {
        "id": new_id("txn_"), "object": "balance_transaction", "amount": amount,
        "available_on": created + 2 * 86400, "created": created, "currency": currency,
        "description": description, "exchange_rate": None, "fee": fee,
        "fee_details": [{"amount": fee, "application": None, "currency": currency,
                         "description": "Dispute fee", "type": "stripe_fee"}] if fee else [],
        "net": amount - fee, "reporting_category": reporting_category, "source": source,
        "status": "pending", "type": type,
    }


def dispute(
    *, did: str, ch: dict[str, Any], amount: int, created: int, reason: str,
    status: str = "needs_response",
) -> dict[str, Any]:
    return {
        "id": did,
        "object": "dispute",
        "amount": amount,
        "balance_transactions": [],
        "charge": ch["id"],
        "created": created,
        "currency": ch["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {k: None for k in (
            "access_activity_log", "billing_address", "cancellation_policy",
            "cancellation_policy_disclosure", "cancellation_rebuttal",
            "customer_communication", "customer_email_address", "customer_name",
            "customer_purchase_ip", "customer_signature", "duplicate_charge_documentation",
            "duplicate_charge_explanation", "duplicate_charge_id", "product_description",
            "receipt", "refund_policy", "refund_policy_disclosure",
            "refund_refusal_explanation", "service_date", "service_documentation",
            "shipping_address", "shipping_carrier", "shipping_date",
            "shipping_documentation", "shipping_tracking_number", "uncategorized_file",
            "uncategorized_text")} | {"enhanced_evidence": {}},
        "evidence_details": {"due_by": created + 7 * 86400, "enhanced_eligibility": {},
                             "has_evidence": False, "past_due": False, "submission_count": 0},
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": ch["payment_intent"],
        "payment_method_details": {"card": {"brand": "visa", "case_type": "chargeback",
                                            "network_reason_code": "10.4"}, "type": "card"},
        "reason": reason,
        "status": status,
    }


def event(
    *, eid: str, type: str, obj: dict[str, Any], created: int, api_version: str,
    pending_webhooks: int, request_id: str | None, idempotency_key: str | None,
    previous_attributes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous_attributes is not None:
        data["previous_attributes"] = previous_attributes
    return {
        "id": eid,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": {"id": request_id, "idempotency_key": idempotency_key},
        "type": type,
    }
