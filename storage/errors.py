"""The one exception type the storage package lets through to callers."""

from i18n import Translatable


class StorageError(Translatable, Exception):
    """A failure the user can cause or fix (no binaries, busy port, bad DSN, a server that will not start).

    The message is one human-readable line and never contains a password: the CLI prints it as is, in the
    reader's language (`text(locale)`); raise it with a msgid and its values, `StorageError(N_("... {port}"),
    port=p)`.
    """
