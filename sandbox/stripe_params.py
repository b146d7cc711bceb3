"""Stripe v1 request decoding and parameter checking for the Stripe emulator.

Stripe's v1 API takes `application/x-www-form-urlencoded` bodies (and query strings for GET)
with bracketed keys: `metadata[k]=v`, `line_items[0][price_data][unit_amount]=500`,
`expand[]=line_items`. `decode_form` turns such pairs into nested dicts, and a small
hand-written schema (`Str`, `Int`, `Bool`, `Obj`, `Arr`, `Hash`, ...) checks and converts them
the way the real API does: unknown keys are `parameter_unknown`, missing required keys are
`parameter_missing`, a bad integer is `Invalid integer: abc`, and so on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

_DOC = "https://stripe.com/docs/error-codes/"


class StripeError(Exception):
    """An API error rendered as Stripe's `{"error": {...}}` body with an HTTP status.

    `validation` marks errors raised before the endpoint started executing; Stripe does not
    store those under an idempotency key.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        validation: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.validation = validation

    def body(self, request_id: str | None = None) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code:
            err["code"] = self.code
            err["doc_url"] = _DOC + self.code.replace("_", "-")
        if self.param:
            err["param"] = self.param
        if request_id:
            err["request_log_url"] = (
                f"https://dashboard.stripe.com/test/logs/{request_id}?t=0"
            )
        return {"error": err}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """A 400 parameter error, raised before execution (not stored for idempotency)."""
    return StripeError(message, param=param, code=code, validation=True)


def missing(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def not_found(kind: str, ident: str, param: str) -> StripeError:
    return StripeError(
        f"No such {kind}: '{ident}'", status=404, code="resource_missing", param=param
    )


# ---------------------------------------------------------------- decoding

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(body: str) -> dict[str, Any]:
    """Decode Stripe-style bracketed form pairs into nested dicts.

    Array positions stay as dict keys ("0", "1", ...) or, for `[]`, as list appends; the
    schema converts them to lists. A key that is both a scalar and a container is rejected.
    """
    root: dict[str, Any] = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        m = _KEY.match(raw_key)
        if not m:
            raise invalid(f"Invalid parameter name: {raw_key}", raw_key)
        parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                if not isinstance(node, list):
                    raise invalid(f"Invalid array: {raw_key}", raw_key)
                if last:
                    node.append(value)
                else:
                    node.append({})
                    node = node[-1]
                continue
            if isinstance(node, list):
                raise invalid(f"Invalid array: {raw_key}", raw_key)
            if last:
                if isinstance(node.get(part), (dict, list)):
                    raise invalid(f"Invalid value for {raw_key}", raw_key)
                node[part] = value
            else:
                nxt = node.get(part)
                want_list = parts[i + 1] == ""
                if nxt is None or isinstance(nxt, str):
                    if isinstance(nxt, str) and nxt != "":
                        raise invalid(f"Invalid object: {raw_key}", raw_key)
                    nxt = [] if want_list else {}
                    node[part] = nxt
                node = nxt
    return root


# ---------------------------------------------------------------- schema


class Field:
    """A parameter type. `check(value, path)` returns the converted value or raises."""

    def check(self, value: Any, path: str) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


def _scalar(value: Any, path: str, kind: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"Invalid {kind}", path)
    return value


def _empty(path: str) -> StripeError:
    return invalid(
        f"You passed an empty string for '{path}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{path}' cannot be unset. You should remove '{path}' "
        "from your request or supply a non-empty value.",
        path,
        "parameter_invalid_empty",
    )


@dataclass
class Str(Field):
    max_length: int | None = 5000
    enum: Sequence[str] | None = None

    def check(self, value: Any, path: str) -> str:
        s = _scalar(value, path, "string")
        if s == "":
            raise _empty(path)
        if self.enum is not None and s not in self.enum:
            choices = list(self.enum)
            listed = ", ".join(choices[:-1]) + (", or " if len(choices) > 2 else " or ")
            listed = listed + choices[-1] if len(choices) > 1 else choices[0]
            raise invalid(f"Invalid {path}: must be one of {listed}", path)
        if self.max_length is not None and len(s) > self.max_length:
            raise invalid(
                f"Invalid string: {s[:50]}{'...' if len(s) > 50 else ''}; must be at most "
                f"{self.max_length} characters",
                path,
            )
        return s


@dataclass
class Int(Field):
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any, path: str) -> int:
        s = _scalar(value, path, "integer")
        if s == "":
            raise _empty(path)
        if not re.fullmatch(r"-?\d+", s):
            raise invalid(f"Invalid integer: {s}", path, "parameter_invalid_integer")
        n = int(s)
        if self.minimum is not None and n < self.minimum:
            raise invalid(f"This value must be greater than or equal to {self.minimum}.", path)
        if self.maximum is not None and n > self.maximum:
            raise invalid(f"This value must be less than or equal to {self.maximum}.", path)
        return n


@dataclass
class Bool(Field):
    def check(self, value: Any, path: str) -> bool:
        s = _scalar(value, path, "boolean")
        if s == "":
            raise _empty(path)
        if s not in ("true", "false"):
            raise invalid(f"Invalid boolean: {s}", path)
        return s == "true"


@dataclass
class Obj(Field):
    fields: Mapping[str, Field]
    required: Sequence[str] = ()
    unsettable: bool = False  # accepts "" to mean "unset"

    def check(self, value: Any, path: str) -> dict[str, Any] | str:
        if value == "" and self.unsettable:
            return ""
        if not isinstance(value, dict):
            raise invalid("Invalid object", path)
        return check_params(value, self.fields, self.required, prefix=path)


@dataclass
class Arr(Field):
    item: Field
    max_items: int | None = None

    def check(self, value: Any, path: str) -> list[Any]:
        if isinstance(value, dict):
            if not all(k.isdigit() for k in value):
                raise invalid("Invalid array", path)
            items = [value[k] for k in sorted(value, key=int)]
            paths = [f"{path}[{k}]" for k in sorted(value, key=int)]
        elif isinstance(value, list):
            items = value
            paths = [f"{path}[{i}]" for i in range(len(value))]
        else:
            raise invalid("Invalid array", path)
        if self.max_items is not None and len(items) > self.max_items:
            raise invalid(
                f"Invalid array: {path} must have at most {self.max_items} elements", path
            )
        return [self.item.check(v, p) for v, p in zip(items, paths, strict=True)]


@dataclass
class Hash(Field):
    """Stripe metadata: string keys and values, with Stripe's size limits; "" unsets."""

    max_keys: int = 50
    max_key_length: int = 40
    max_value_length: int = 500

    def check(self, value: Any, path: str) -> dict[str, str]:
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise invalid("Invalid object", path)
        if len(value) > self.max_keys:
            raise invalid(
                f"Invalid {path}: {path} can have up to {self.max_keys} keys, but you passed "
                f"in {len(value)} keys.",
                path,
            )
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise invalid(f"Invalid value for {path}[{k}]: must be a string", f"{path}[{k}]")
            if len(k) > self.max_key_length:
                raise invalid(
                    f"Metadata keys can have up to {self.max_key_length} characters, but you "
                    f"passed in a key that is {len(k)} characters. Invalid key: {k}",
                    f"{path}[{k}]",
                )
            if len(v) > self.max_value_length:
                raise invalid(
                    f"Metadata values can have up to {self.max_value_length} characters, but "
                    f"you passed in a value that is {len(v)} characters. Invalid value: {v[:50]}",
                    f"{path}[{k}]",
                )
            if v != "":  # an empty value unsets the key
                out[k] = v
        return out


@dataclass
class IntOrRange(Field):
    """Stripe's `created` filter: an integer or `{gt, gte, lt, lte}`."""

    range_fields: Mapping[str, Field] = field(
        default_factory=lambda: {k: Int() for k in ("gt", "gte", "lt", "lte")}
    )

    def check(self, value: Any, path: str) -> dict[str, int]:
        if isinstance(value, dict):
            return check_params(value, self.range_fields, prefix=path)
        return {"eq": Int().check(value, path)}


def check_params(
    params: Mapping[str, Any],
    schema: Mapping[str, Field],
    required: Sequence[str] = (),
    *,
    prefix: str = "",
) -> dict[str, Any]:
    """Check `params` against `schema` and return converted values.

    Unknown keys raise `parameter_unknown` before missing keys are reported, as Stripe does.
    """

    def name(key: str) -> str:
        return f"{prefix}[{key}]" if prefix else key

    for key in params:
        if key not in schema:
            raise invalid(
                f"Received unknown parameter: {name(key)}", name(key), "parameter_unknown"
            )
    for key in required:
        if key not in params:
            raise missing(name(key))
    return {key: schema[key].check(value, name(key)) for key, value in params.items()}


EXPAND = Arr(Str(), max_items=None)
