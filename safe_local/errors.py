"""The one exception type users see.

Every failure a user can fix (a missing model, a bad flag, a prompt longer than the context)
is raised as SafeLocalError with a one-line message that names what is wrong and what to do.
The CLI prints it on one line; the chat UI shows it as a notification. Programming errors are
left as ordinary exceptions on purpose, so they are not mistaken for user errors.
"""


class SafeLocalError(Exception):
    """A user-facing error; str(error) is one line saying what is wrong and how to fix it."""
