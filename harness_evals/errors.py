"""The one base class of errors a user can fix; the CLI prints these without a traceback."""


class UserError(Exception):
    """Bad input or setup. The message names the record or setting and says how to fix it."""
