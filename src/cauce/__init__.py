"""cauce: a GitOps repository for machine learning."""


class CauceError(Exception):
    """A problem with the user's input, files or data: reported as a message, no traceback."""


class DataError(CauceError, ValueError):
    """The data cannot be used as it is; the message names the file, column and rule."""
