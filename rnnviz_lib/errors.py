"""The one exception type whose message is shown to users as-is (no traceback)."""


class RnnvizError(Exception):
    """A problem with the user's input or environment; the message names it and the fix."""
