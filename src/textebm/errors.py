"""The one exception type that the command line turns into a one-line error and exit code 2."""


class UsageError(Exception):
    """Bad input from the user: a missing file or model, a malformed line, a bad flag value.

    The message is a single line that names the problem and, where there is one, the fix.
    """
