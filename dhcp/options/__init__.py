"""Option tables and the walker that reads and writes them."""

from .space import (
    ENTERPRISES,
    SPACES,
    Item,
    OptionDef,
    OptionSpace,
    VendorBlock,
    decode_space,
    decode_value,
    encode_space,
    encode_value,
)
from .tables import CABLELABS, CCC, DHCP4

__all__ = ["CABLELABS", "CCC", "DHCP4", "ENTERPRISES", "SPACES", "Item", "OptionDef", "OptionSpace",
           "VendorBlock", "decode_space", "decode_value", "encode_space", "encode_value"]
