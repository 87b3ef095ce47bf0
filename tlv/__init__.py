"""DOCSIS and PacketCable config-file codec (pure: bytes and text in, bytes and text out).

Entry points: :func:`tlv.config.compile_text`, :func:`tlv.config.decode_file`,
:func:`tlv.config.format_file`; the schema is :data:`tlv.schema.CONFIG`.
"""
