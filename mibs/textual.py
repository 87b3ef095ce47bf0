"""OID text for people: instance suffixes by INDEX, and hints for unknown names.

Split from mibs.registry because a config compile only resolves names to
OIDs: formatting and error hints are what decoding and mistakes need, and
without byte code every module a compile imports is compiled from source
first.
"""

from __future__ import annotations

from mibs.objects import _QUOTABLE, _STRING_KINDS, COLUMN, IP_ADDRESS, OBJECT_IDENTIFIER, MibObject


def format_suffix(obj: MibObject, suffix: tuple[int, ...]) -> str:
    """The instance part of an OID as text: quoted strings and dotted numbers
    per the object's INDEX, or plain arcs where they do not fit it."""
    if not suffix:
        return ""
    numeric = "." + ".".join(map(str, suffix))
    if obj.kind != COLUMN or not obj.index:
        return numeric
    pieces: list[str] = []
    pos = 0
    last = len(obj.index) - 1
    for number, part in enumerate(obj.index):
        rest = suffix[pos:]
        if not rest:
            return numeric
        implied = obj.implied and number == last
        if part.syntax in _STRING_KINDS or part.syntax == OBJECT_IDENTIFIER:
            is_string = part.syntax != OBJECT_IDENTIFIER
            if part.size is not None:
                length, prefixed = part.size, False
            elif implied:
                length, prefixed = len(rest), False
            else:
                length, prefixed = rest[0], True
                rest = rest[1:]
            if len(rest) < length:
                return numeric
            chars = rest[:length]
            pos += length + (1 if prefixed else 0)
            if is_string and chars and all(c in _QUOTABLE for c in chars):
                quote = '"' if prefixed else "'"
                pieces.append("." + quote + "".join(map(chr, chars)) + quote)
            elif is_string and not chars and prefixed:
                pieces.append('.""')
            else:
                arcs = ((length,) if prefixed else ()) + chars
                pieces.append("".join(f".{a}" for a in arcs))
        elif part.syntax == IP_ADDRESS:
            if len(rest) < 4:
                return numeric
            pieces.append("".join(f".{a}" for a in rest[:4]))
            pos += 4
        else:
            pieces.append(f".{rest[0]}")
            pos += 1
    if pos < len(suffix):
        pieces.append("".join(f".{a}" for a in suffix[pos:]))
    return "".join(pieces)


def close_match(name: str, names: list[str]) -> str | None:
    """The known name ``name`` was probably meant as, or None."""
    folded = name.lower()
    for candidate in names:
        if candidate.lower() == folded:
            return candidate  # names are case-sensitive: a common slip
    import difflib  # deferred: only error messages need it

    # Narrow the candidates first: difflib over every name is slow.
    head = folded[:3]
    pool = sorted({n for n in names if n[:3].lower() == head}) or sorted(set(names))
    matches = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
    return matches[0] if matches else None
