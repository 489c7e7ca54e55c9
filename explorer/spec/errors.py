"""The one kind of error a user can cause: shown as one line, never as a traceback."""


class ExplorerError(Exception):
    """A user's mistake (bad file, knob out of range): shown as one line, never as a traceback."""


class ConfigError(ExplorerError):
    pass
