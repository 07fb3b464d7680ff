"""A local FluentCart-compatible server (WordPress 6.8 + FluentCart 1.3.25 behaviour).

It reproduces the recorded answers of the real API (`../shared/fluentcart/exchanges.jsonl`
and `exchanges-2.jsonl`), traps included, for the demo and the tests. It imports nothing from the client.
"""

from reconciler.sandbox.datafile import DataFile
from reconciler.sandbox.server import Sandbox
from reconciler.sandbox.store import Store, WpUser

__all__ = ["DataFile", "Sandbox", "Store", "WpUser"]
