"""Stripe form decoding and parameter checks, against the real SDK's own encoder."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe._encode import _api_encode

from sandbox.stripe_params import (
    Arr,
    Hash,
    Int,
    Obj,
    Str,
    StripeError,
    check_params,
    decode_form,
)

SCHEMA = {
    "metadata": Hash(),
    "expand": Arr(Str()),
    "items": Arr(Obj({"amount": Int(), "name": Str()})),
    "note": Str(200),
}

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="[]"),
               min_size=1, max_size=20)


@settings(max_examples=150, deadline=None)
@given(
    metadata=st.dictionaries(text, st.text(max_size=30), max_size=8),
    expand=st.lists(text, max_size=3),
    items=st.lists(st.fixed_dictionaries({"amount": st.integers(-10**9, 10**9),
                                          "name": text}), max_size=4),
)
def test_sdk_encoding_round_trips(metadata: dict[str, str], expand: list[str],
                                  items: list[dict[str, Any]]) -> None:
    params: dict[str, Any] = {"metadata": metadata, "expand": expand, "items": items}
    body = urlencode(list(_api_encode(params)))
    got = check_params(decode_form(body), SCHEMA)
    expected = {k: v for k, v in params.items() if v}  # empty containers send nothing
    if metadata:
        expected["metadata"] = {k: v for k, v in metadata.items() if v}  # "" unsets a key
    assert got == expected


def test_curl_style_brackets_and_unset() -> None:
    raw = decode_form("expand[]=a&expand[]=b&metadata=&items[0][amount]=5&items[0][name]=x")
    assert check_params(raw, SCHEMA) == {
        "expand": ["a", "b"], "metadata": {}, "items": [{"amount": 5, "name": "x"}]}


@pytest.mark.parametrize("body, param, code", [
    ("items[0][amount]=1e3", "items[0][amount]", "parameter_invalid_integer"),
    ("items[0][colour]=red", "items[0][colour]", "parameter_unknown"),
    ("items=abc", "items", None),
    ("metadata[a][b]=c", "metadata[a]", None),
    ("note=" + "x" * 201, "note", None),
    ("note=", "note", "parameter_invalid_empty"),
])
def test_rejections(body: str, param: str, code: str | None) -> None:
    with pytest.raises(StripeError) as info:
        check_params(decode_form(body), SCHEMA)
    assert (info.value.param, info.value.code, info.value.status) == (param, code, 400)
    assert info.value.body()["error"]["type"] == "invalid_request_error"


def test_scalar_then_nested_key_conflict() -> None:
    with pytest.raises(StripeError):
        decode_form("metadata[a]=1&metadata[a][b]=2")
