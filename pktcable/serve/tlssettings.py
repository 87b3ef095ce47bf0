"""The settings' TLS: a certificate and key pair (PEM files) turned into a server context,
for the API (``api_cert``/``api_key``) and the SIP service (``sip_cert``/``sip_key``: SIP over
TLS, the profiles over HTTPS), and the SIP settings that depend on it. A pair that cannot be
used raises :class:`~pktcable.settings.SettingError` naming the setting, as every other
setting's mistake does (one line, exit 2)."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from pktcable.settings import named

if TYPE_CHECKING:
    from .config import ServeConfig


def api_ssl(cfg: ServeConfig) -> ssl.SSLContext | None:
    """The API listener's TLS context from api_cert and api_key, or None (plain HTTP)."""
    return tls_context(cfg, "api_cert", "api_key")


def sip_ssl(cfg: ServeConfig) -> ssl.SSLContext | None:
    """The SIP server's TLS context (SIP over TLS, profiles over HTTPS) from sip_cert and sip_key, or None."""
    return tls_context(cfg, "sip_cert", "sip_key")


def tls_context(cfg: ServeConfig, cert_key: str, key_key: str) -> ssl.SSLContext | None:
    cert, key = getattr(cfg, cert_key), getattr(cfg, key_key)
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise named(cert_key if cert is None else key_key, f"set {cert_key} and {key_key} together")
    for name, value in ((cert_key, cert), (key_key, key)):
        path = Path(value)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise named(name, f"{path}: no such readable file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise named(cert_key, f"{cert} with {key}: not a PEM certificate and its key ({exc.reason or exc})") from None
    return context


def check_sip(cfg: ServeConfig) -> None:
    if cfg.sip_transport not in ("udp", "tcp", "tls"):
        raise named("sip_transport", f"must be udp, tcp or tls, not {cfg.sip_transport!r}")
    if cfg.sip_multicast and cfg.sip_transport != "udp":
        raise named("sip_multicast", "the PnP SUBSCRIBE comes over UDP: needs sip_transport = \"udp\"")
    tls = sip_ssl(cfg)
    if tls is None and cfg.sip_transport == "tls":
        raise named("sip_transport", "tls needs the server's certificate: set sip_cert and sip_key")
    if tls is None and cfg.sip_https_port:
        raise named("sip_https_port", "HTTPS needs the server's certificate: set sip_cert and sip_key")
    if cfg.sip_https_port and not cfg.sip_port:
        raise named("sip_https_port", "serves the SIP phones' profiles: needs sip_port (it is 0)")
    if cfg.sip_dhcp_servers:
        from dhcp.options.types import SIP_SERVERS

        try:
            SIP_SERVERS.encode(cfg.sip_dhcp_servers)
        except ValueError as exc:
            raise named("sip_dhcp_servers", str(exc)) from None
    if cfg.sip_port and not (cfg.http_port or cfg.sip_https_port):
        raise named("sip_port", "SIP phones fetch their profiles over HTTP: needs http_port or sip_https_port "
                                "(both are 0)")
