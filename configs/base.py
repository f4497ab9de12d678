"""What every config section shares: the one error type of configuration mistakes."""


class ConfigError(ValueError):
  """A configuration key is unknown, mistyped, renamed or inconsistent; the message names the dotted key."""
