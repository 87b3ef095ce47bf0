"""Where delivered content comes from: (file name, client address) -> bytes.

TFTP and HTTP share one :class:`Resolver`. Implementations here:

- :class:`DirectoryResolver`: files under one folder (firmware images), with no
  way out of it: absolute names, ``..`` and symlinks leading outside are refused.
- :class:`MemoryResolver`: a fixed name -> bytes table (tests, benchmarks, embedding).
- :class:`OneTimeResolver` with :class:`OneTimeNames`: generated names valid for
  one client IP and one download, expiring after a set time (default 60 s).
- :class:`TemplateResolver`: builds a device's CM or MTA config file on request
  from a Jinja2 template in the config language and the device's facts.
- :class:`ChainResolver`: the first resolver that knows the name wins.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pktcable.store.devices import Device, normalize_mac

if TYPE_CHECKING:
    from tlv.model import OidContext

Address = tuple[str, int]


class ResolveError(Exception):
    """Root of the resolvers' errors; ``name`` is the requested file name."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name!r}: {reason}")


class NotFound(ResolveError):
    """No such file for this client (TFTP error 1, HTTP 404)."""


class AccessDenied(ResolveError):
    """The name is refused: traversal, absolute path, wrong client (TFTP error 2, HTTP 403)."""


class BuildFailed(ResolveError):
    """The file exists in principle but could not be built (TFTP error 0, HTTP 500)."""


class Resolver(Protocol):
    def resolve(self, name: str, client: Address) -> bytes:
        """The content of ``name`` for ``client``; raises a :class:`ResolveError` subclass."""
        ...


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


# --- per-exchange names -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Issued:
    target: str
    client_ip: str
    expires: float


class OneTimeNames:
    """Names made for one exchange: one client IP, one download, a short life.

    Sans-IO: the caller passes the time. A name is spent by the first request
    from its IP (even one that later fails), so a leaked name is worth nothing.
    """

    def __init__(self, lifetime: float = 60.0, prefix: str = "x-", token: Callable[[], str] | None = None) -> None:
        self.lifetime = lifetime
        self.prefix = prefix
        self._token = token or (lambda: secrets.token_hex(10))
        self._issued: dict[str, _Issued] = {}

    def issue(self, target: str, client_ip: str, now: float, suffix: str = ".cfg") -> str:
        self.expire(now)
        name = f"{self.prefix}{self._token()}{suffix}"
        if name in self._issued:
            raise ValueError("token generator repeated itself")
        self._issued[name] = _Issued(target, client_ip, now + self.lifetime)
        return name

    def take(self, name: str, client_ip: str, now: float) -> str | None:
        """The target of ``name`` if it is live and issued to ``client_ip``; spends it."""
        issued = self._issued.get(name)
        if issued is None or issued.expires <= now:
            self._issued.pop(name, None)
            return None
        if issued.client_ip != client_ip:
            return None  # not spent: the rightful client may still come
        del self._issued[name]
        return issued.target

    def expire(self, now: float) -> None:
        # Issue order is expiry order (one lifetime), so stop at the first live name.
        for name in list(self._issued):
            if self._issued[name].expires > now:
                break
            del self._issued[name]

    def __len__(self) -> int:
        return len(self._issued)


class OneTimeResolver:
    """Serves names from a :class:`OneTimeNames` table through ``inner``.

    Names without the table's prefix go to ``fallback`` (for example firmware
    from a directory), or are not found.
    """

    def __init__(self, names: OneTimeNames, inner: Resolver, clock: Callable[[], float],
                 fallback: Resolver | None = None) -> None:
        self.names = names
        self._inner = inner
        self._clock = clock
        self._fallback = fallback

    def resolve(self, name: str, client: Address) -> bytes:
        if not name.startswith(self.names.prefix):
            if self._fallback is None:
                raise NotFound(name, "not a per-exchange name")
            return self._fallback.resolve(name, client)
        target = self.names.take(name, client[0], self._clock())
        if target is None:
            raise NotFound(name, "unknown, expired, spent or issued to another client")
        return self._inner.resolve(target, client)


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
    ``mta_hash`` inside its file; in the Hybrid and Secure flows the server
    SETs the hash instead, and the file carries none (config-file.md §2).
    """

    def __init__(self, devices: DeviceLookup, loader: Any = None, *, ctx: OidContext | None = None,
                 cm_key: bytes | None = None, mta_hash: str | None = "cablelabs",
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

        from tlv.errors import TlvError

        name = name or device.template
        facts = {**device.vars, "mac": device.mac, "kind": device.kind, "ip": device.ip, "flow": device.flow,
                 "client_ip": client_ip}
        in_file_hash = self._mta_hash if device.kind == "mta" and device.flow.upper().startswith("BASIC") else None
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
            source = self._env.loader.get_source(self._env, template.name)[0]
            ast = self._env.parse(source)
            nested = next(jinja2.meta.find_referenced_templates(ast), None) is not None
            reads = self._reads[template.name] = (template, None if nested else
                                                  frozenset(jinja2.meta.find_undeclared_variables(ast)))
        if reads[1] is None:
            return None
        used = {k: facts[k] for k in sorted(reads[1]) if k in facts}
        return json.dumps([template.name, facts["kind"], in_file_hash, used], sort_keys=True, default=repr)
