"""Country and state names and checks as FluentCart's LocalizationManager gives them.

The tables are the plugin's own (`geodata.py`, generated from its i18n files).
"""

from reconciler.geodata import COUNTRIES, STATE_OPTIONAL, STATES

# getStateNameByCode without a country looks in every country's list, a later one winning.
_ALL_STATES = {code: name for states in STATES.values() for code, name in states.items()}


def country_name(code: str | None) -> str:
    """The name for an ISO code; an unknown value is echoed; empty gives ""."""
    if not code:
        return ""
    return COUNTRIES.get(code, code)


def state_name(country: str | None, state: str | None) -> str | None:
    """The state's name within `country` (within every country when it is empty), else as is."""
    if not state:
        return state
    states = STATES.get(country, {}) if country else _ALL_STATES
    return states.get(state, state)


def is_country(code: object) -> bool:
    return isinstance(code, str) and code in COUNTRIES


def state_required(country: str | None) -> bool:
    """Whether the address locale asks for a state (not when optional or hidden)."""
    return country not in STATE_OPTIONAL


def is_state(country: str | None, state: str) -> bool:
    """Whether `state` is a code of `country`; any value passes when it has no list."""
    states = STATES.get(country or "", {})
    return not states or state in states
