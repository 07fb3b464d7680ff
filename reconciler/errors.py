"""The tool's own exceptions: each carries a message meant for the user."""

# In a message, what follows this is the text a store answered (an error page): the client
# writes it, --redact leaves it out (it may hold any field).
ANSWER_PREVIEW = "; it begins:"


class FluentCartError(Exception):
    """An error with a message for the user; caught once at the top, never a traceback."""


class WorkspaceError(FluentCartError):
    """The workspace configuration (`fluentcart.yaml`) is unusable."""


class StateError(FluentCartError):
    """The state cannot be read or written."""


class PlanFileError(FluentCartError):
    """A saved plan cannot be read."""
