"""The one base of every error ponder reports to a user as one line (no traceback): the CLI catches `PonderError`.

A leaf module: any layer may import it (rewards included, which otherwise imports nothing of ponder).
"""


class PonderError(Exception):
    """A problem with the user's input or environment, said in one line that names the file, key or command."""
