"""DHCPv4 codec: messages, option tables and CableLabs sub-options (pure: bytes in, typed objects out)."""

# The option tables first: the capability spaces they reference register themselves on import.
from . import options  # noqa: F401
