"""cauce: a GitOps repository for machine learning.

Every failure a user can cause or meet is one of the error types below: `cauce` prints
its message (never a traceback) and exits with its code, so that workflows and scripts
can tell the kinds apart. docs/reliability.md has the table.
"""

from enum import IntEnum


class ExitCode(IntEnum):
    """What `cauce` exits with. monitor.yml branches on DRIFT and CONTRACT_BREACH."""

    OK = 0
    FAILED = 1  # a check failed or the command was refused: the gate, dvc.lock, a release
    USAGE = 2  # an option or a configuration file is wrong (argparse uses 2 too)
    DRIFT = 3  # cauce monitor's verdict: the batch drifted
    CONTRACT_BREACH = 4  # cauce monitor's verdict: the batch breaks the data contract
    DATA = 5  # input data is missing, cannot be read or breaks a rule
    MODEL_FILE = 6  # a model file is missing, truncated, tampered with or of another kind
    EXTERNAL = 7  # git, dvc, gto, a remote, a webhook, an API or the file system failed
    INTERRUPTED = 130  # Ctrl-C, as shells report it


class CauceError(Exception):
    """A check failed or the command refused: reported as a message, no traceback."""

    exit_code = ExitCode.FAILED


class UsageError(CauceError):
    """Options that name nothing or cannot go together."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError, ValueError):
    """A configuration file is missing, unreadable or breaks a rule."""


class DataError(CauceError, ValueError):
    """The data cannot be used as it is; the message names the file, column and rule."""

    exit_code = ExitCode.DATA


class ModelFileError(CauceError):
    """A model file is missing, truncated, not what its record says, or of a foreign kind."""

    exit_code = ExitCode.MODEL_FILE


class ExternalError(CauceError):
    """Something outside cauce failed: a tool, a remote, a receiver, the file system."""

    exit_code = ExitCode.EXTERNAL
