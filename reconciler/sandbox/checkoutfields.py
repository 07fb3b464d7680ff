"""FluentCart's checkout-field settings: the store's name mode (API-2.md F).

`GET /checkout-fields/get-fields` answers the field schema and the settings: the defaults with
the saved option `_fc_checkout_fields` laid over them one level deep
(`CheckoutFieldsSchema::getFieldsSettings`, `wp_parse_args`); `save-fields` stores what
`CheckoutFieldsController::saveFields` makes of the request. Full-name mode holds exactly when
neither `first_name` nor `last_name` is enabled.
"""

import copy
from typing import Any

from reconciler.sandbox import phpjson

FULL_NAME = "full_name"
FIRST_LAST = "first_last"

# CheckoutFieldsSchema::getFieldsSchemaConfig (static).
SCHEMA: dict[str, Any] = {
    "basic_info": {
        "full_name": {
            "label": "Full Name",
            "help_text": "Enabling First/Last name will replace the default Full Name.",
            "type": "text",
            "can_alter": "no",
        },
        "first_name": {"label": "First Name", "type": "text", "can_alter": "yes"},
        "last_name": {"label": "Last Name", "type": "text", "can_alter": "yes"},
        "email": {"label": "Email Address", "type": "email", "can_alter": "no"},
        "company_name": {"label": "Company", "type": "text", "can_alter": "yes"},
    },
    "billing_address": {
        "country": {"label": "Country", "type": "text", "can_alter": "yes"},
        "state": {"label": "State", "type": "text", "can_alter": "yes"},
        "address_1": {"label": "Street Address", "type": "text", "can_alter": "yes"},
        "address_2": {"label": "Apt, suite, unit", "type": "text", "can_alter": "yes"},
        "city": {"label": "City", "type": "text", "can_alter": "yes"},
        "postcode": {"label": "Post Code", "type": "text", "can_alter": "yes"},
        "phone": {"label": "Phone", "type": "text", "can_alter": "yes"},
    },
    "shipping_address": {
        "full_name": {"label": "Full Name", "type": "text", "can_alter": "no"},
        "country": {"label": "Country", "type": "text", "can_alter": "yes"},
        "state": {"label": "State", "type": "text", "can_alter": "yes"},
        "address_1": {"label": "Street Address", "type": "text", "can_alter": "yes"},
        "address_2": {"label": "Apt, suite, unit", "type": "text", "can_alter": "yes"},
        "city": {"label": "City", "type": "text", "can_alter": "yes"},
        "postcode": {"label": "Post Code", "type": "text", "can_alter": "yes"},
        "phone": {"label": "Phone", "type": "text", "can_alter": "yes"},
    },
    "agree_terms": {"label": "Agree Terms and Conditions", "type": "checkbox", "can_alter": "yes"},
}

# CheckoutFieldsSchema::getFieldsSettings defaults.
DEFAULTS: dict[str, Any] = {
    "basic_info": {
        "full_name": {"required": "yes", "enabled": "yes"},
        "first_name": {"required": "no", "enabled": "no"},
        "last_name": {"required": "no", "enabled": "no"},
        "email": {"required": "yes", "enabled": "yes"},
        "company_name": {"required": "no", "enabled": "no"},
    },
    "billing_address": {
        "country": {"required": "yes", "enabled": "yes"},
        "state": {"required": "yes", "enabled": "yes"},
        "address_1": {"required": "yes", "enabled": "yes"},
        "address_2": {"required": "no", "enabled": "yes"},
        "city": {"required": "yes", "enabled": "yes"},
        "postcode": {"required": "yes", "enabled": "yes"},
        "phone": {"required": "no", "enabled": "no"},
        "company_name": {"required": "no", "enabled": "no"},
    },
    "shipping_address": {
        "full_name": {"required": "yes", "enabled": "yes"},
        "country": {"required": "yes", "enabled": "yes"},
        "state": {"required": "yes", "enabled": "yes"},
        "address_1": {"required": "yes", "enabled": "yes"},
        "address_2": {"required": "no", "enabled": "yes"},
        "city": {"required": "yes", "enabled": "yes"},
        "postcode": {"required": "yes", "enabled": "yes"},
        "phone": {"required": "no", "enabled": "no"},
        "company_name": {"required": "no", "enabled": "no"},
    },
    "agree_terms": {"required": "no", "enabled": "no", "text": ""},
}

GROUPS = ("basic_info", "billing_address", "shipping_address")


class SettingsTypeError(Exception):
    """`settings` is not an array: the PHP TypeError of array_intersect_key."""


def fields_settings(option: dict[str, Any] | None) -> dict[str, Any]:
    """The settings get-fields answers for the saved option (None: no option saved)."""
    settings = copy.deepcopy(DEFAULTS)
    if not option:
        return settings
    for key, default in settings.items():
        saved = option.get(key, {})
        if not isinstance(saved, dict):
            saved = {}
        if key in GROUPS:
            saved = {k: v for k, v in saved.items() if k in default}
        settings[key] = {**default, **saved}
    return settings


def name_mode_of(settings: dict[str, Any]) -> str:
    basic = settings.get("basic_info", {})
    enabled = {_get(basic, "first_name", "enabled"), _get(basic, "last_name", "enabled")}
    return FIRST_LAST if "yes" in enabled else FULL_NAME


def option_for(name_mode: str) -> dict[str, Any] | None:
    """The option a store started in `name_mode` behaves as if it had saved."""
    if name_mode == FULL_NAME:
        return None
    return saved_option({"basic_info": {"first_name": {"enabled": "yes"},
                                        "last_name": {"enabled": "yes"}}})  # fmt: skip


def saved_option(settings: object) -> dict[str, Any]:
    """What save-fields stores for the request's `settings` (SettingsTypeError if no array)."""
    if isinstance(settings, list):
        settings = dict(enumerate(settings))
    if not isinstance(settings, dict):
        raise SettingsTypeError(
            "array_intersect_key(): Argument #1 ($array) must be of type array,"
            f" {phpjson.type_name(settings)} given"
        )
    option = copy.deepcopy({k: v for k, v in settings.items() if k in DEFAULTS})
    basic = option.get("basic_info")
    first = _get(basic, "first_name", "enabled") == "yes"
    last = _get(basic, "last_name", "enabled") == "yes"
    full = "no" if first or last else "yes"
    _set(option, "full_name", "enabled", full)
    _set(option, "full_name", "required", full)
    if first:
        _set(option, "first_name", "required", "yes")
    elif last:
        _set(option, "last_name", "required", "yes")
    return option


def _get(group: object, field: str, key: str) -> object:
    value = group.get(field) if isinstance(group, dict) else None
    return value.get(key, "no") if isinstance(value, dict) else "no"


def _set(option: dict[str, Any], field: str, key: str, value: str) -> None:
    """Arr::set on basic_info.field.key: what is not an array on the way is replaced."""
    if not isinstance(option.get("basic_info"), dict):
        option["basic_info"] = {}
    basic = option["basic_info"]
    if not isinstance(basic.get(field), dict):
        basic[field] = {}
    basic[field][key] = value
