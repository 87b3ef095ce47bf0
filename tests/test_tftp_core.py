"""The sans-IO TFTP core: codec, option negotiation and one read transfer under a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktcable.delivery.tftp import (
    MAX_BLKSIZE,
    Ack,
    Data,
    Error,
    ErrorCode,
    MalformedPacket,
    Opcode,
    OptionAck,
    ReadTransfer,
    Request,
    TransferCompleted,
    TransferConfig,
    TransferFailed,
    TransferState,
    decode,
    encode_ack,
    encode_data,
    encode_error,
    encode_oack,
    encode_request,
    negotiate,
    to_netascii,
)

PEER = ("192.0.2.10", 40000)
CONFIG = TransferConfig(timeout=2.0, max_retries=3, max_duration=100.0)


def rrq(name: str = "cm.cfg", mode: str = "octet", **options: str) -> Request:
    return Request(Opcode.RRQ, name, mode, tuple(options.items()))


def sent(transfer: ReadTransfer) -> list[object]:
    return [decode(data) for data, addr in transfer.datagrams_to_send()]


# --- codec -------------------------------------------------------------------------------------------------------


def test_request_round_trip_and_case_of_options() -> None:
    data = encode_request(Opcode.RRQ, "fw/image.bin", "OCTET", {"BlkSize": "1468", "tsize": "0"})
    assert decode(data) == Request(Opcode.RRQ, "fw/image.bin", "octet", (("blksize", "1468"), ("tsize", "0")))


def test_other_packets_round_trip() -> None:
    assert decode(encode_data(7, b"abc")) == Data(7, b"abc")
    assert decode(encode_data(65535, b"")) == Data(65535, b"")
    assert decode(encode_ack(0)) == Ack(0)
    assert decode(encode_error(ErrorCode.FILE_NOT_FOUND, "nope")) == Error(1, "nope")
    assert decode(encode_oack({"blksize": "512"})) == OptionAck((("blksize", "512"),))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "too short"),
        (b"\x00\x01a", "too short"),
        (b"\x00\x09abc\x00octet\x00", "unknown opcode 9"),
        (b"\x00\x01cm.cfg\x00octet", "not NUL-terminated"),  # unterminated mode
        (b"\x00\x01cm.cfg", "not NUL-terminated"),  # unterminated file name
        (b"\x00\x01cm.cfg\x00", "without a mode"),
        (b"\x00\x01\x00octet\x00", "empty file name"),
        (b"\x00\x01cm.cfg\x00binary\x00", "unknown transfer mode"),
        (b"\x00\x01cm.cfg\x00octet\x00blksize\x00", "option without a value"),
        (b"\x00\x01cm.cfg\x00octet\x00blksize\x001\x00BLKSIZE\x002\x00", "given twice"),
        (b"\x00\x01cm\x01.cfg\x00octet\x00", "not printable"),
        (b"\x00\x01cm\xff.cfg\x00octet\x00", "not printable"),
        (b"\x00\x01" + b"a" * 600 + b"\x00octet\x00", "at most 512"),
        (b"\x00\x04\x00\x01\x00", "ACK of 5 octets"),
    ],
)
def test_malformed_packets_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedPacket, match=reason):
        decode(data)


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_malformed(data: bytes) -> None:
    try:
        decode(data)
    except MalformedPacket:
        pass


@settings(max_examples=300)
@given(st.binary(max_size=40).map(lambda b: b"\x00\x01" + b))
def test_random_requests_decode_or_raise_malformed(data: bytes) -> None:
    try:
        packet = decode(data)
    except MalformedPacket:
        return
    assert isinstance(packet, Request) and packet.filename


def test_netascii() -> None:
    assert to_netascii(b"a\nb\rc\r\n") == b"a\r\nb\r\0c\r\0\r\n"


# --- negotiation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, blksize, oack",
    [
        ({}, 512, {}),
        ({"blksize": "1468"}, 1468, {"blksize": "1468"}),
        ({"blksize": "65464"}, 65464, {"blksize": "65464"}),
        ({"blksize": "99999"}, MAX_BLKSIZE, {"blksize": str(MAX_BLKSIZE)}),  # clamped, RFC 2348
        ({"blksize": "9" * 400}, 512, {}),  # hostile number: ignored, never converted
        ({"blksize": "7"}, 512, {}),  # below RFC 2348's range
        ({"blksize": "0x10"}, 512, {}),
        ({"blksize": "-1"}, 512, {}),
        ({"tsize": "0"}, 512, {"tsize": "4096"}),
        ({"tsize": "12"}, 512, {}),  # only a reader's 0 asks for the size
        ({"timeout": "3"}, 512, {"timeout": "3"}),
        ({"timeout": "0"}, 512, {}),
        ({"timeout": "256"}, 512, {}),
        ({"windowsize": "4", "multicast": ""}, 512, {}),  # unknown options are left out of the OACK
    ],
)
def test_negotiation(options: dict[str, str], blksize: int, oack: dict[str, str]) -> None:
    agreed = negotiate(rrq(**options), 4096, TransferConfig())
    assert (agreed.blksize, agreed.oack) == (blksize, oack)


def test_negotiation_respects_server_limit_and_timeout() -> None:
    agreed = negotiate(rrq(blksize="65464", timeout="7"), 1, TransferConfig(max_blksize=1468, max_timeout_option=7))
    assert agreed.blksize == 1468 and agreed.timeout == 7.0
    # Above the server's maximum (default 5 s) the option is left out, never answered with another value.
    agreed = negotiate(rrq(blksize="65464", timeout="7"), 1, TransferConfig(max_blksize=1468, timeout=1.5))
    assert agreed.timeout == 1.5 and agreed.oack == {"blksize": "1468"}
    agreed = negotiate(rrq(timeout="7"), 1, TransferConfig(accept_timeout_option=False, timeout=1.5))
    assert agreed.timeout == 1.5 and agreed.oack == {}


# --- one transfer, fake clock -----------------------------------------------------------------------------------


def ack(t: ReadTransfer, block: int, now: float) -> list[object]:
    t.receive_datagram(encode_ack(block), PEER, now)
    return sent(t)


def test_plain_transfer_ends_with_a_short_block() -> None:
    content = bytes(range(256)) * 5  # 1280 bytes: 512 + 512 + 256
    t = ReadTransfer(PEER, rrq(), content, 0.0, CONFIG)
    assert sent(t) == [Data(1, content[:512])]
    assert ack(t, 1, 0.1) == [Data(2, content[512:1024])]
    assert ack(t, 2, 0.2) == [Data(3, content[1024:])]
    assert not t.done
    assert ack(t, 3, 0.3) == []
    assert t.result == TransferCompleted(1280, 3) and t.state is TransferState.COMPLETE
    assert t.get_timer() is None


def test_exact_multiple_ends_with_an_empty_block() -> None:
    t = ReadTransfer(PEER, rrq(), b"x" * 1024, 0.0, CONFIG)
    sent(t)
    ack(t, 1, 0)
    assert ack(t, 2, 0) == [Data(3, b"")]
    ack(t, 3, 0)
    assert t.result == TransferCompleted(1024, 3)


def test_empty_file_is_one_empty_block() -> None:
    t = ReadTransfer(PEER, rrq(), b"", 0.0, CONFIG)
    assert sent(t) == [Data(1, b"")]
    ack(t, 1, 0)
    assert t.result == TransferCompleted(0, 1)


def test_options_start_with_oack_and_ack_zero() -> None:
    t = ReadTransfer(PEER, rrq(blksize="1000", tsize="0"), b"y" * 1500, 0.0, CONFIG)
    assert sent(t) == [OptionAck((("blksize", "1000"), ("tsize", "1500")))]
    assert t.state is TransferState.OPTIONS_SENT
    assert ack(t, 1, 0.1) == []  # not ACK 0: ignored
    assert ack(t, 0, 0.1) == [Data(1, b"y" * 1000)]
    assert ack(t, 1, 0.2) == [Data(2, b"y" * 500)]
    ack(t, 2, 0.3)
    assert t.result == TransferCompleted(1500, 2)


def test_lost_oack_is_retransmitted() -> None:
    t = ReadTransfer(PEER, rrq(tsize="0"), b"z", 0.0, CONFIG)
    oack = sent(t)
    t.handle_timer(2.0)
    assert sent(t) == oack


def test_loss_retransmits_on_the_timer_only() -> None:
    t = ReadTransfer(PEER, rrq(), b"a" * 600, 0.0, CONFIG)
    first = sent(t)
    assert t.get_timer() == 2.0
    t.handle_timer(1.9)  # early: nothing
    assert sent(t) == []
    t.handle_timer(2.0)
    assert sent(t) == first and t.get_timer() == 4.0
    assert ack(t, 1, 4.5) == [Data(2, b"a" * 88)]
    assert t.get_timer() == 6.5


def test_retries_run_out_and_reset_on_progress() -> None:
    t = ReadTransfer(PEER, rrq(), b"a" * 600, 0.0, CONFIG)
    sent(t)
    now = 0.0
    for _ in range(3):
        now += 2.0
        t.handle_timer(now)
        assert len(sent(t)) == 1
    ack(t, 1, now)  # progress resets the count
    for _ in range(3):
        now += 2.0
        t.handle_timer(now)
        assert len(sent(t)) == 1
    now += 2.0
    t.handle_timer(now)
    assert sent(t) == [] and isinstance(t.result, TransferFailed) and "block 2" in t.result.reason
    assert t.state is TransferState.FAILED and t.get_timer() is None


def test_duplicate_acks_never_cause_resends() -> None:
    """The Sorcerer's Apprentice bug: a duplicated ACK must not duplicate DATA."""
    t = ReadTransfer(PEER, rrq(), b"b" * 2000, 0.0, CONFIG)
    sent(t)
    assert ack(t, 1, 0.1) == [Data(2, b"b" * 512)]
    assert ack(t, 1, 0.2) == []  # duplicate of ACK 1
    assert ack(t, 1, 0.2) == []
    assert ack(t, 2, 0.3) == [Data(3, b"b" * 512)]
    assert ack(t, 2, 0.3) == []


def test_reordered_and_future_acks_are_ignored() -> None:
    t = ReadTransfer(PEER, rrq(), b"c" * 2000, 0.0, CONFIG)
    sent(t)
    assert ack(t, 3, 0.1) == []  # a block never sent
    assert ack(t, 1, 0.1) == [Data(2, b"c" * 512)]
    assert ack(t, 2, 0.2) == [Data(3, b"c" * 512)]
    assert ack(t, 1, 0.3) == []  # late ACK 1 arrives after ACK 2
    assert t.state is TransferState.SENDING


def test_foreign_tid_gets_error_5_and_the_transfer_goes_on() -> None:
    t = ReadTransfer(PEER, rrq(), b"d" * 600, 0.0, CONFIG)
    sent(t)
    stranger = ("192.0.2.99", 40000)
    t.receive_datagram(encode_ack(1), stranger, 0.1)
    out = t.datagrams_to_send()
    assert out == [(encode_error(ErrorCode.UNKNOWN_TID, "unknown transfer ID"), stranger)]
    t.receive_datagram(encode_ack(1), (PEER[0], PEER[1] + 1), 0.1)  # same host, other port: also foreign
    assert decode(t.datagrams_to_send()[0][0]) == Error(5, "unknown transfer ID")
    assert ack(t, 1, 0.2) == [Data(2, b"d" * 88)]


def test_client_error_ends_silently() -> None:
    t = ReadTransfer(PEER, rrq(blksize="100"), b"e" * 600, 0.0, CONFIG)
    sent(t)
    t.receive_datagram(encode_error(ErrorCode.OPTION_REFUSED, "no"), PEER, 0.1)
    assert sent(t) == [] and isinstance(t.result, TransferFailed) and "error 8" in t.result.reason


@pytest.mark.parametrize("garbage", [b"\x00\x09zz", b"\x00\x03\x00\x01data", b"\x01"])
def test_garbage_from_the_client_ends_with_error_4(garbage: bytes) -> None:
    t = ReadTransfer(PEER, rrq(), b"f" * 600, 0.0, CONFIG)
    sent(t)
    t.receive_datagram(garbage, PEER, 0.1)
    out = sent(t)
    assert len(out) == 1 and isinstance(out[0], Error) and out[0].code == ErrorCode.ILLEGAL_OPERATION
    assert t.done
    t.receive_datagram(encode_ack(1), PEER, 0.2)  # nothing happens after the end
    assert sent(t) == []


def test_slow_drip_client_hits_max_duration() -> None:
    t = ReadTransfer(PEER, rrq(), b"g" * 5000, 0.0, TransferConfig(timeout=1.0, max_duration=3.5))
    sent(t)
    now = 0.0
    for block in range(1, 5):  # one ACK a second, just inside the retransmission timeout
        now += 0.9
        ack(t, block, now)
    assert t.get_timer() == 3.5
    t.handle_timer(3.5)
    out = sent(t)
    assert isinstance(out[0], Error) and isinstance(t.result, TransferFailed)


def test_netascii_mode_converts_and_sizes() -> None:
    t = ReadTransfer(PEER, rrq(mode="netascii", tsize="0"), b"a\nb\n", 0.0, CONFIG)
    assert sent(t) == [OptionAck((("tsize", "6"),))]
    assert ack(t, 0, 0) == [Data(1, b"a\r\nb\r\n")]


def test_block_numbers_wrap_after_65535() -> None:
    blocks = 65536 + 10
    content = random.Random(1).randbytes(8 * blocks + 3)
    t = ReadTransfer(PEER, rrq(blksize="8"), content, 0.0, CONFIG)
    sent(t)
    t.receive_datagram(encode_ack(0), PEER, 0.0)
    received = bytearray()
    numbers = []
    while not t.done:
        (data, _), = t.datagrams_to_send()
        number = int.from_bytes(data[2:4], "big")
        numbers.append(number)
        received += data[4:]
        t.receive_datagram(encode_ack(number), PEER, 0.0)
    assert bytes(received) == content
    assert numbers[65534:65537] == [65535, 0, 1]
    assert t.result == TransferCompleted(len(content), blocks + 1)


# --- a lossy, duplicating, reordering channel ---------------------------------------------------------------------


def run_lossy(content: bytes, seed: int, loss: float, dup: float, reorder: float, blksize: int) -> bytes | None:
    """An RFC 1350 client and our transfer over a channel that loses, duplicates and reorders."""
    rng = random.Random(seed)
    now = 0.0
    # Many small blocks over a lossy channel take longer than the default lifetime bound.
    t = ReadTransfer(PEER, rrq(blksize=str(blksize)), content, now,
                     TransferConfig(timeout=1.0, max_retries=50, max_duration=3600.0))
    in_flight: list[tuple[float, str, bytes]] = []  # (arrival, direction, bytes)
    received = bytearray()
    expected = 1
    last_ack = 0
    client_done = False

    def channel(direction: str, data: bytes) -> None:
        if rng.random() < loss:
            return
        copies = 2 if rng.random() < dup else 1
        for _ in range(copies):
            delay = 0.01 + (rng.random() * 0.3 if rng.random() < reorder else 0.0)
            in_flight.append((now + delay, direction, data))

    for _ in range(200_000):
        for data, _addr in t.datagrams_to_send():
            channel("down", data)
        if t.done:
            break
        timer = t.get_timer()
        in_flight.sort(key=lambda item: item[0])
        if in_flight and (timer is None or in_flight[0][0] <= timer):
            now, direction, data = in_flight.pop(0)
            if direction == "up":
                t.receive_datagram(data, PEER, now)
                continue
            packet = decode(data)
            if isinstance(packet, OptionAck):
                channel("up", encode_ack(0))
            elif isinstance(packet, Data):
                if packet.block == expected & 0xFFFF:
                    received += packet.payload
                    last_ack = packet.block
                    expected += 1
                    client_done = len(packet.payload) < blksize
                channel("up", encode_ack(last_ack))  # a duplicate DATA is re-ACKed (RFC 1350)
        else:
            now = timer if timer is not None else now
            t.handle_timer(now)
    assert client_done
    return bytes(received) if isinstance(t.result, TransferCompleted) else None


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(0, 5000), blksize=st.sampled_from([8, 64, 512, 1468]))
def test_lossy_channel_delivers_exactly(seed: int, size: int, blksize: int) -> None:
    content = random.Random(seed).randbytes(size)
    assert run_lossy(content, seed, loss=0.15, dup=0.15, reorder=0.2, blksize=blksize) == content
