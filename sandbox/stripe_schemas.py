"""Hand-written parameter whitelists for the Stripe endpoints the emulator implements.

Each schema lists the parameters the real endpoint accepts, with their types and length
limits. Parameters the emulator accepts but gives no behaviour (tax, shipping, promotion
codes, ...) are listed so that a request the real API takes is taken here too; a parameter
not listed is `parameter_unknown`, as on the real API.
"""

from __future__ import annotations

from .stripe_params import EXPAND, Arr, Bool, Field, Hash, Int, IntOrRange, Obj, Str

_PRODUCT_DATA = Obj(
    {
        "description": Str(40000),
        "images": Arr(Str(None), max_items=8),
        "metadata": Hash(),
        "name": Str(),
        "tax_code": Str(),
    },
    required=("name",),
)

_PRICE_DATA = Obj(
    {
        "currency": Str(None),
        "product": Str(),
        "product_data": _PRODUCT_DATA,
        "recurring": Obj(
            {"interval": Str(enum=("day", "month", "week", "year")),
             "interval_count": Int()},
            required=("interval",),
        ),
        "tax_behavior": Str(enum=("exclusive", "inclusive", "unspecified")),
        "unit_amount": Int(),
        "unit_amount_decimal": Str(None),
    },
    required=("currency",),
)

_LINE_ITEM = Obj(
    {
        "adjustable_quantity": Obj(
            {"enabled": Bool(), "maximum": Int(), "minimum": Int()}, required=("enabled",)
        ),
        "dynamic_tax_rates": Arr(Str()),
        "price": Str(),
        "price_data": _PRICE_DATA,
        "quantity": Int(),
        "tax_rates": Arr(Str()),
    }
)

_PAYMENT_INTENT_DATA = Obj(
    {
        "application_fee_amount": Int(),
        "capture_method": Str(enum=("automatic", "automatic_async", "manual")),
        "description": Str(1000),
        "metadata": Hash(),
        "on_behalf_of": Str(None),
        "receipt_email": Str(None),
        "setup_future_usage": Str(enum=("off_session", "on_session")),
        "statement_descriptor": Str(22),
        "statement_descriptor_suffix": Str(22),
        "transfer_group": Str(None),
    }
)

_ENABLED = Obj({"enabled": Bool()}, required=("enabled",))

PAYMENT_METHOD_TYPES = (
    "acss_debit", "affirm", "afterpay_clearpay", "alipay", "au_becs_debit", "bacs_debit",
    "bancontact", "blik", "boleto", "card", "cashapp", "customer_balance", "eps", "fpx",
    "giropay", "grabpay", "ideal", "klarna", "konbini", "link", "oxxo", "p24", "paynow",
    "pix", "promptpay", "sepa_debit", "sofort", "us_bank_account", "wechat_pay",
)

CHECKOUT_SESSION_CREATE: dict[str, Field] = {
    "after_expiration": Obj({"recovery": Obj(
        {"allow_promotion_codes": Bool(), "enabled": Bool()}, required=("enabled",))}),
    "allow_promotion_codes": Bool(),
    "automatic_tax": _ENABLED,
    "billing_address_collection": Str(enum=("auto", "required")),
    "cancel_url": Str(5000),
    "client_reference_id": Str(200),
    "consent_collection": Obj({
        "promotions": Str(enum=("auto", "none")),
        "terms_of_service": Str(enum=("none", "required")),
    }),
    "currency": Str(None),
    "customer": Str(),
    "customer_creation": Str(enum=("always", "if_required")),
    "customer_email": Str(None),
    "discounts": Arr(Obj({"coupon": Str(), "promotion_code": Str()})),
    "expand": EXPAND,
    "expires_at": Int(),
    "line_items": Arr(_LINE_ITEM),
    "locale": Str(enum=(
        "auto", "bg", "cs", "da", "de", "el", "en", "en-GB", "es", "es-419", "et", "fi",
        "fil", "fr", "fr-CA", "hr", "hu", "id", "it", "ja", "ko", "lt", "lv", "ms", "mt",
        "nb", "nl", "pl", "pt", "pt-BR", "ro", "ru", "sk", "sl", "sv", "th", "tr", "vi",
        "zh", "zh-HK", "zh-TW")),
    "metadata": Hash(),
    "mode": Str(enum=("payment", "setup", "subscription")),
    "payment_intent_data": _PAYMENT_INTENT_DATA,
    "payment_method_collection": Str(enum=("always", "if_required")),
    "payment_method_types": Arr(Str(enum=PAYMENT_METHOD_TYPES)),
    "phone_number_collection": _ENABLED,
    "redirect_on_completion": Str(enum=("always", "if_required", "never")),
    "return_url": Str(5000),
    "submit_type": Str(enum=("auto", "book", "donate", "pay")),
    "success_url": Str(5000),
    "tax_id_collection": _ENABLED,
    "ui_mode": Str(enum=("custom", "embedded", "hosted")),
}

CHECKOUT_SESSION_LIST: dict[str, Field] = {
    "created": IntOrRange(),
    "customer": Str(),
    "customer_details": Obj({"email": Str(None)}, required=("email",)),
    "ending_before": Str(),
    "expand": EXPAND,
    "limit": Int(),
    "payment_intent": Str(),
    "payment_link": Str(),
    "starting_after": Str(),
    "status": Str(enum=("complete", "expired", "open")),
    "subscription": Str(),
}

EVENT_LIST: dict[str, Field] = {
    "created": IntOrRange(),
    "delivery_success": Bool(),
    "ending_before": Str(),
    "expand": EXPAND,
    "limit": Int(),
    "starting_after": Str(),
    "type": Str(),
    "types": Arr(Str(), max_items=20),
}

REFUND_CREATE: dict[str, Field] = {
    "amount": Int(),
    "charge": Str(),
    "currency": Str(None),
    "customer": Str(),
    "expand": EXPAND,
    "instructions_email": Str(None),
    "metadata": Hash(),
    "origin": Str(enum=("customer_balance",)),
    "payment_intent": Str(),
    "reason": Str(enum=("duplicate", "fraudulent", "requested_by_customer")),
    "refund_application_fee": Bool(),
    "reverse_transfer": Bool(),
}

RETRIEVE: dict[str, Field] = {"expand": EXPAND}

REFUND_LIST: dict[str, Field] = {
    "charge": Str(),
    "created": IntOrRange(),
    "ending_before": Str(),
    "expand": EXPAND,
    "limit": Int(),
    "payment_intent": Str(),
    "starting_after": Str(),
}

LIST: dict[str, Field] = {
    "ending_before": Str(), "expand": EXPAND, "limit": Int(), "starting_after": Str(),
}

WEBHOOK_ENDPOINT_CREATE: dict[str, Field] = {
    "api_version": Str(),
    "connect": Bool(),
    "description": Str(None),
    "enabled_events": Arr(Str()),
    "expand": EXPAND,
    "metadata": Hash(),
    "url": Str(),
}

WEBHOOK_ENDPOINT_UPDATE: dict[str, Field] = {
    "description": Str(None),
    "disabled": Bool(),
    "enabled_events": Arr(Str()),
    "expand": EXPAND,
    "metadata": Hash(),
    "url": Str(),
}
