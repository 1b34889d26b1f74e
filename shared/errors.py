"""The project's error hierarchy: every error a person or operator may see is one of these."""


class HqxError(Exception):
    """Base class of errors that carry a one-line message meant for people."""


class ConfigError(HqxError):
    """A setting is missing or malformed; the message names the variable."""
