"""The environment variables fluentcart reads, and what each means: one table for `--help`,
the comments of a new `fluentcart.yaml` and the README. Imports nothing, so `--help` and
`--version` stay fast."""

STORE = (
    ("FLUENTCART_URL", "the WordPress site, such as https://shop.example.com (wins over `site`)"),
    ("FLUENTCART_USERNAME", "a WordPress user who may manage FluentCart customers"),
    (
        "FLUENTCART_APP_PASSWORD",
        "that user's Application Password (wp-admin > Users > Profile), not the login password",
    ),
)
STATE = (
    (
        "FLUENTCART_STATE",
        "where the state is kept (wins over `state`): a file or a postgresql:// URL",
    ),
    ("PGPASSWORD", "the state database's password; also ~/.pgpass and libpq's other PG* variables"),
)
CACHE = (
    ("FLUENTCART_CACHE_DIR", "the parse cache's directory (default: ~/.cache/fluentcart)"),
    ("FLUENTCART_NO_CACHE", "set to parse every declared file again"),
    ("FLUENTCART_WORKERS", "processes that parse declared files (1: none; default: every core)"),
)
COLOR = (("NO_COLOR", "set to never colour the output"),)
DEBUG = (("FLUENTCART_DEBUG", "set to show the traceback of an internal error"),)
