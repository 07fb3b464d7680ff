"""A small slice of FluentCart's country and state names (app/Helpers/Helper.php)."""

COUNTRIES = {
    "AU": "Australia",
    "BE": "Belgium",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CN": "China",
    "DE": "Germany",
    "DK": "Denmark",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom (UK)",
    "IE": "Ireland",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "MX": "Mexico",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PL": "Poland",
    "PT": "Portugal",
    "SE": "Sweden",
    "US": "United States (US)",
}

STATES = {
    "US": {
        "AL": "Alabama",
        "AK": "Alaska",
        "AZ": "Arizona",
        "CA": "California",
        "CO": "Colorado",
        "CT": "Connecticut",
        "FL": "Florida",
        "GA": "Georgia",
        "IL": "Illinois",
        "MA": "Massachusetts",
        "MI": "Michigan",
        "NJ": "New Jersey",
        "NY": "New York",
        "OR": "Oregon",
        "PA": "Pennsylvania",
        "TX": "Texas",
        "VA": "Virginia",
        "WA": "Washington",
    },
    "CA": {
        "AB": "Alberta",
        "BC": "British Columbia",
        "MB": "Manitoba",
        "NS": "Nova Scotia",
        "ON": "Ontario",
        "QC": "Quebec",
        "SK": "Saskatchewan",
    },
    "AU": {
        "NSW": "New South Wales",
        "QLD": "Queensland",
        "VIC": "Victoria",
        "WA": "Western Australia",
    },
}


def country_name(code: str | None) -> str:
    """The name for an ISO code; an unknown value is echoed; empty gives ""."""
    if not code:
        return ""
    return COUNTRIES.get(code, code)


def state_name(country: str | None, state: str | None) -> str | None:
    if not state:
        return state
    return STATES.get(country or "", {}).get(state, state)
