"""Where delivered content comes from: (file name, client address) -> bytes.

TFTP and HTTP share one :class:`Resolver`. Implementations here:

- :class:`DirectoryResolver`: files under one folder (firmware images), with no
  way out of it: absolute names, ``..`` and symlinks leading outside are refused.
- :class:`MemoryResolver`: a fixed name -> bytes table (tests, benchmarks, embedding).
- :class:`OneTimeResolver` with :class:`OneTimeNames` (:mod:`pktcable.delivery.onetime`):
  generated names valid for one client IP and one download, expiring after a set time
  (default 60 s), optionally shared by several nodes.
- :class:`TemplateResolver`: builds a device's CM or MTA config file on request
  from a Jinja2 template in the config language and the device's facts.
- :class:`ChainResolver`: the first resolver that knows the name wins.
- :class:`HolderGate`: a device's file, under any name, only for the addresses
  its lease allows (:class:`Holders`).
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pktcable.flow import realm_family
from pktcable.store.devices import Device, normalize_mac

from .base import AccessDenied, Address, BuildFailed, NotFound, ResolveError, Resolver, peek
from .onetime import (
    MAX_ISSUED_BYTES,
    MAX_ISSUED_NAMES,
    Issued,
    OneTimeNames,
    OneTimeResolver,
    SharedNames,
    SharedNamesError,
)

if TYPE_CHECKING:
    from tlv.model import OidContext


class MemoryResolver:
    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = dict(files)

    def resolve(self, name: str, client: Address) -> bytes:
        try:
            return self._files[name]
        except KeyError:
            raise NotFound(name, "no such file") from None


class ChainResolver:
    """Ask each resolver in turn; only :class:`NotFound` moves on to the next."""

    def __init__(self, resolvers: Iterable[Resolver]) -> None:
        self._resolvers = list(resolvers)

    def resolve(self, name: str, client: Address) -> bytes:
        for resolver in self._resolvers:
            try:
                return resolver.resolve(name, client)
            except NotFound:
                continue
        raise NotFound(name, "no such file")

    def peek(self, name: str, client: Address) -> bytes:
        for resolver in self._resolvers:
            try:
                return peek(resolver, name, client)
            except NotFound:
                continue
        raise NotFound(name, "no such file")


# --- a directory ------------------------------------------------------------------------------------------------


class DirectoryResolver:
    """Regular files below ``root``; contents cached while their stat is unchanged.

    The cache matters for firmware: a thousand modems fetching one 5 MB image
    share one copy instead of each reading (and holding) its own.
    """

    def __init__(self, root: str | os.PathLike[str], cache_bytes: int = 256 << 20) -> None:
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise NotADirectoryError(self.root)
        self._cache: OrderedDict[str, tuple[tuple[int, int, int], bytes]] = OrderedDict()
        self._cache_limit = cache_bytes
        self._cached = 0

    def path_of(self, name: str) -> str:
        """The real path ``name`` stands for, or :class:`AccessDenied`."""
        if "\0" in name or "\\" in name:
            raise AccessDenied(name, "NUL or backslash in the name")
        if name.startswith("/"):
            raise AccessDenied(name, "absolute path")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts:
            raise NotFound(name, "empty name")
        if ".." in parts:
            raise AccessDenied(name, "parent directory in the name")
        # realpath resolves every symlink on the way, so a link inside the
        # root that points outside it is caught by the prefix test.
        path = os.path.realpath(os.path.join(self.root, *parts))
        if not path.startswith(self.root + os.sep):
            raise AccessDenied(name, "leads outside the root")
        return path

    def resolve(self, name: str, client: Address) -> bytes:
        path = self.path_of(name)
        try:
            st = os.stat(path)
        except OSError:
            raise NotFound(name, "no such file") from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(name, "not a regular file")
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        hit = self._cache.get(path)
        if hit is not None and hit[0] == key:
            self._cache.move_to_end(path)
            return hit[1]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise AccessDenied(name, exc.strerror or "cannot read") from None
        self._remember(path, key, data)
        return data

    def _remember(self, path: str, key: tuple[int, int, int], data: bytes) -> None:
        old = self._cache.pop(path, None)
        if old is not None:
            self._cached -= len(old[1])
        if len(data) > self._cache_limit:
            return
        self._cache[path] = (key, data)
        self._cached += len(data)
        while self._cached > self._cache_limit:
            _, (_, dropped) = self._cache.popitem(last=False)
            self._cached -= len(dropped)


# --- config files built from templates --------------------------------------------------------------------------


class DeviceLookup(Protocol):
    def by_mac(self, mac: str) -> Device | None: ...

    def by_ip(self, ip: str) -> Device | None: ...


class InMemoryDevices:
    def __init__(self, devices: Iterable[Device] = ()) -> None:
        self._by_mac: dict[str, Device] = {}
        self._by_ip: dict[str, Device] = {}
        for device in devices:
            self.add(device)

    def add(self, device: Device) -> None:
        self._by_mac[device.mac] = device
        if device.ip:
            self._by_ip[device.ip] = device

    def by_mac(self, mac: str) -> Device | None:
        return self._by_mac.get(mac)

    def by_ip(self, ip: str) -> Device | None:
        return self._by_ip.get(ip)


def _culprit(facts: Mapping[str, Any], value: Any) -> str:
    """Which variable held ``value`` (a typed filter refused it; filters see values, not names)."""
    names = [k for k, v in facts.items() if type(v) is type(value) and v == value]
    return f"variable {', '.join(sorted(names))}" if names else "a value written in the template"


#: ``cm-001122aabbcc.cfg``, ``mta_00:11:22:aa:bb:cc.bin``; ``cm.cfg`` / ``mta.cfg`` name the asking device by its IP.
DEFAULT_NAME_PATTERN = re.compile(
    r"(?P<kind>cm|mta)(?:[-_](?P<mac>[0-9a-fA-F]{12}|[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){5}))?\.(?:cfg|bin)"
)


class TemplateResolver:
    """Renders the device's template (config language) and compiles it with :mod:`tlv`.

    ``loader`` is any Jinja2 loader (``FileSystemLoader(dir)``, ``DictLoader``);
    None means the operator-less defaults of :mod:`pktcable.templates`.
    Undefined template variables are errors, not empty strings: a config file
    silently missing its call agent is worse than no file. CM files get their
    MICs with ``cm_key``. An MTA in a Basic flow gets the config hash named by
    ``mta_hash`` inside its file (a name of tlv.config.HASH_OIDS, or a
    function of the device giving one: the hash object is the device's MIB
    tree's); in the Hybrid and Secure flows the server SETs the hash instead,
    and the file carries none (PKT-SP-PROV1.5).
    """

    def __init__(self, devices: DeviceLookup, loader: Any = None, *, ctx: OidContext | None = None,
                 cm_key: bytes | None = None,
                 mta_hash: str | None | Callable[[Device], str | None] = "cablelabs",
                 pattern: re.Pattern[str] = DEFAULT_NAME_PATTERN, memo_limit: int = 100_000) -> None:
        from pktcable.mibctx import MibContext
        from pktcable.templates import environment

        self._devices = devices
        self._env = environment(loader=loader)
        self._ctx = ctx if ctx is not None else MibContext()
        self._cm_key = cm_key
        self._mta_hash = mta_hash
        self._pattern = pattern
        self._memo: dict[Any, Any] = {}  # statements repeat across devices: parse each once
        # Whole files, by the facts their template reads (see _build_key).
        self._built: dict[str, tuple[Any, bytes]] = {}
        self._reads: dict[str, tuple[Any, frozenset[str] | None]] = {}
        self._memo_limit = memo_limit

    def reload(self, loader: Any = None) -> None:
        """Templates read anew from ``loader`` (SIGHUP), and nothing built from the old ones is served."""
        from pktcable.templates import environment

        self._env = environment(loader=loader)
        self._built.clear()
        self._reads.clear()

    def names(self) -> list[str]:
        """Every template name there is, the operator's and the shipped ones."""
        return sorted(set(self._env.list_templates(filter_func=is_template_name)))

    def source(self, name: str) -> str:
        """The text of template ``name``; jinja2.TemplateNotFound when there is none."""
        import jinja2

        if not is_template_name(name):
            raise jinja2.TemplateNotFound(name)
        assert self._env.loader is not None  # the environment is always built with our loader
        return self._env.loader.get_source(self._env, name)[0]

    def device_for(self, name: str, client: Address) -> Device:
        match = self._pattern.fullmatch(name)
        if match is None:
            raise NotFound(name, "not a config file name")
        kind, mac = match.group("kind"), match.group("mac")
        if mac:
            device = self._devices.by_mac(normalize_mac(mac))
        else:
            device = self._devices.by_ip(client[0])
        if device is None:
            raise NotFound(name, "no such device")
        if device.kind != kind:
            raise NotFound(name, f"device is a {device.kind}, not a {kind}")
        return device

    def resolve(self, name: str, client: Address) -> bytes:
        return self.build(self.device_for(name, client), client[0], name)

    def build(self, device: Device, client_ip: str = "", name: str = "") -> bytes:
        """The device's config file; raises :class:`BuildFailed` with the reason."""
        import jinja2

        from pktcable.templates import ValueTypeError
        from tlv.errors import TlvError

        name = name or device.template
        facts = {**device.vars, "mac": device.mac, "kind": device.kind, "ip": device.ip, "flow": device.flow,
                 "client_ip": client_ip}
        in_file_hash = None
        if device.kind == "mta" and realm_family(device.flow.upper()).file_in_dhcp:
            in_file_hash = self._mta_hash(device) if callable(self._mta_hash) else self._mta_hash
        try:
            template = self._env.get_template(device.template)
            key = self._build_key(template, facts, in_file_hash)
        except jinja2.TemplateError as exc:
            raise BuildFailed(name, f"template {device.template}: {exc}") from exc
        if key is not None:
            built = self._built.get(key)
            if built is not None and built[0] is template:
                return built[1]
        try:
            text = template.render(facts)
        except jinja2.TemplateError as exc:
            raise BuildFailed(name, f"template {device.template}: {exc}") from exc
        except ValueTypeError as exc:
            raise BuildFailed(name, f"template {device.template}: {_culprit(facts, exc.value)}: {exc}") from exc
        except (TypeError, ValueError, ArithmeticError) as exc:  # arithmetic on a value of the wrong type
            raise BuildFailed(name, f"template {device.template}: {type(exc).__name__}: {exc}") from exc
        if len(self._memo) > self._memo_limit:
            self._memo.clear()
        try:
            from tlv.config import compile_text

            if device.kind == "cm":
                data = compile_text(text, source=device.template, ctx=self._ctx, key=self._cm_key, memo=self._memo)
            else:
                data = compile_text(text, source=device.template, ctx=self._ctx, hash=in_file_hash, memo=self._memo)
        except TlvError as exc:
            raise BuildFailed(name, str(exc)) from exc
        if key is not None:
            if len(self._built) > self._memo_limit:
                self._built.clear()
            self._built[key] = (template, data)
        return data

    def _build_key(self, template: Any, facts: dict[str, Any], in_file_hash: str | None) -> str | None:
        """A key for the file built from ``template`` out of the facts it reads.

        Devices that differ only in facts the template never reads (most
        often their MAC and address) get the same file, built once. A
        template that includes, imports or extends another is not keyed: its
        reads cannot be seen from its own source.
        """
        import json

        import jinja2.meta

        reads = self._reads.get(template.name)
        if reads is None or reads[0] is not template:
            assert self._env.loader is not None  # the environment is always built with our loader
            source = self._env.loader.get_source(self._env, template.name)[0]
            ast = self._env.parse(source)
            nested = next(jinja2.meta.find_referenced_templates(ast), None) is not None
            reads = self._reads[template.name] = (template, None if nested else
                                                  frozenset(jinja2.meta.find_undeclared_variables(ast)))
        if reads[1] is None:
            return None
        used = {k: facts[k] for k in sorted(reads[1]) if k in facts}
        return json.dumps([template.name, facts["kind"], in_file_hash, used], sort_keys=True, default=repr)


# --- who may fetch a device's file ------------------------------------------------------------------------------


class Holders(Protocol):
    def may_fetch(self, mac: str, kind: str, client_ip: str) -> str | None:
        """None when ``client_ip`` may have the ``kind`` file of ``mac``, else a short reason (a metric label)."""
        ...


class HolderGate:
    """Serves a device's file, whichever name it is asked by, only to the
    addresses :class:`Holders` allows; anyone else is told the file does not
    exist (so names cannot be used to learn which devices exist), counted in
    ``refused`` by reason, and nothing is built.

    The device is found from the name: a by-MAC name (``pattern``), a one-time
    name (its target, from ``names``), or ``cm.cfg``/``mta.cfg`` (the device
    leased at the asking address). Names that are no device's file (firmware)
    pass through to ``inner`` unchecked.

    ``shared_holders`` (several nodes on one database) answers for a one-time name of
    the shared store whose device ``holders`` knows no lease of: the device may have
    bound its lease on another node. It is asked only then, so only a request naming a
    live one-time name (an unguessable token) costs its look-up.
    """

    def __init__(self, inner: Resolver, holders: Holders, devices: DeviceLookup, clock: Callable[[], float],
                 names: OneTimeNames | None = None, pattern: re.Pattern[str] = DEFAULT_NAME_PATTERN, *,
                 shared_holders: Holders | None = None) -> None:
        self._inner = inner
        self._holders = holders
        self._shared_holders = shared_holders
        self._devices = devices
        self._clock = clock
        self._names = names
        self._pattern = pattern
        self.refused: Counter[str] = Counter()

    def owner(self, name: str, client: Address) -> tuple[str, str] | None:
        """(MAC, kind) of the device whose file ``name`` is, or None."""
        return self._owner(name, client)[0]

    def _owner(self, name: str, client: Address) -> tuple[tuple[str, str] | None, bool]:
        """The owner, and whether ``name`` is a one-time name of the shared store."""
        target, shared = name, False
        if self._names is not None and name.startswith(self._names.prefix):
            issued = self._names.find(name, self._clock())
            if issued is None:
                return None, False  # unknown or expired: the inner resolver says so
            target, shared = issued.target, issued.shared
        match = self._pattern.fullmatch(target)
        if match is None:
            return None, shared
        kind, mac = match.group("kind"), match.group("mac")
        if mac:
            return (normalize_mac(mac), kind), shared
        device = self._devices.by_ip(client[0])
        return (None if device is None else (device.mac, kind)), shared

    def check(self, name: str, client: Address) -> None:
        owner, shared = self._owner(name, client)
        if owner is None:
            return
        why = self._holders.may_fetch(owner[0], owner[1], client[0])
        if why == "no-lease" and shared and self._shared_holders is not None:
            why = self._shared_holders.may_fetch(owner[0], owner[1], client[0])
        if why is not None:
            self.refused[why] += 1
            raise NotFound(name, f"not for this client ({why})")

    def resolve(self, name: str, client: Address) -> bytes:
        self.check(name, client)
        return self._inner.resolve(name, client)

    def peek(self, name: str, client: Address) -> bytes:
        self.check(name, client)
        return peek(self._inner, name, client)


#: The template folder's subfolder of SIP phone profile layouts (pktcable/phones/profiles.py).
PHONE_LAYOUTS = "sip"


def is_template_name(name: str) -> bool:
    """A file in a template folder that is a config-file template: not Python's (the shipped
    folder is a package, and running from a checkout leaves ``__pycache__`` there), not
    hidden, and not a SIP phone's profile layout (``sip/``: pktcable.phones reads those)."""
    parts = name.split("/")
    return (not any(p.startswith(("_", ".")) for p in parts) and not name.endswith((".py", ".pyc"))
            and not (len(parts) > 1 and parts[0] == PHONE_LAYOUTS))


__all__ = ["MAX_ISSUED_BYTES", "MAX_ISSUED_NAMES", "PHONE_LAYOUTS", "AccessDenied", "Address", "BuildFailed",
           "ChainResolver", "DEFAULT_NAME_PATTERN", "DeviceLookup", "DirectoryResolver", "HolderGate", "Holders",
           "InMemoryDevices", "Issued", "MemoryResolver", "NotFound", "OneTimeNames", "OneTimeResolver",
           "ResolveError", "Resolver", "SharedNames", "SharedNamesError", "TemplateResolver", "is_template_name",
           "peek"]
