"""An echo server on aioquic, following the rules of
ossl-guide-quic-server-non-block(7): ALPN http/1.0 or hq-interop only;
each bidirectional stream read until FIN, at most --max-input bytes; the
bytes echoed back with FIN.

It is a peer for comparison, written the way aioquic's examples write a
server (asyncio.serve with a QuicConnectionProtocol), and shares no code
with the reference server. Its flags are the reference server's where
aioquic has the knob. It prints "listening on ADDR" once bound.

The guide's server shuts its connection down after the echo; this one
cannot. aioquic tells an application nothing of acknowledgements, and its
close() sends nothing more of the echo (tried: closing right after the
echo cut 8 KiB echoes to about 3.5 KiB on a clean network). So, like the
DNS-over-QUIC server in aioquic's examples, it leaves the close to the
client, or to the idle timeout. aioquic has no connection limit: beyond
--max-connections a client is closed with 0x12 once its handshake is done.
"""

import argparse
import asyncio
import signal
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    StreamDataReceived,
    StreamReset,
)

ERR_TOO_LARGE = 0x10  # the stream sent more than --max-input bytes
ERR_UNI_STREAM = 0x11  # a unidirectional stream: nothing to echo it on
ERR_REFUSED = 0x12  # --max-connections reached


def duration(text):
    """Seconds from the reference server's durations: 5s, 500ms, 2m."""
    for unit, scale in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "", 1).isdigit():
            return float(text[: -len(unit)]) * scale
    raise argparse.ArgumentTypeError(f"{text!r}: expected a duration such as 5s or 500ms")


def address(text):
    """HOST:PORT, IPv6 in brackets."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def parse_args():
    p = argparse.ArgumentParser(description="QUIC echo server on aioquic (a peer for comparison)")
    p.add_argument("--listen", type=address, default=("127.0.0.1", 4443))
    p.add_argument("--cert", default="certs/chain.pem")
    p.add_argument("--key", default="certs/key.pem")
    p.add_argument("--alpn", default="http/1.0,hq-interop")
    p.add_argument("--max-input", type=int, default=8192)
    # Connections stay open after an echo anyway (see above).
    p.add_argument("--keep-alive", action="store_true")
    p.add_argument("--idle-timeout", type=duration, default=5.0)
    p.add_argument("--max-connections", type=int, default=10000)
    p.add_argument("--no-retry", action="store_true")
    return p.parse_args()


class Echo(QuicConnectionProtocol):
    """The echo rules for one connection."""

    live = 0

    def __init__(self, *args, rules, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_input = rules.max_input
        self.max_connections = rules.max_connections
        self.read = {}
        Echo.live += 1

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated):
            Echo.live -= 1
        elif isinstance(event, HandshakeCompleted) and Echo.live > self.max_connections:
            self._quic.close(error_code=ERR_REFUSED, reason_phrase="too many connections")
            self.transmit()
        elif isinstance(event, StreamReset):
            self.read.pop(event.stream_id, None)
            self._quic.reset_stream(event.stream_id, event.error_code)
            self.transmit()
        elif isinstance(event, StreamDataReceived):
            self.data(event.stream_id, event.data, event.end_stream)

    def data(self, stream_id, data, fin):
        if stream_id & 0x2:
            self._quic.stop_stream(stream_id, ERR_UNI_STREAM)
            self.transmit()
            return
        buf = self.read.setdefault(stream_id, bytearray())
        buf += data
        if len(buf) > self.max_input:
            self.read.pop(stream_id)
            self._quic.stop_stream(stream_id, ERR_TOO_LARGE)
            self._quic.reset_stream(stream_id, ERR_TOO_LARGE)
            self._quic.close(error_code=ERR_TOO_LARGE, reason_phrase=f"input exceeds {self.max_input} bytes")
            self.transmit()
            return
        if not fin:
            return
        self._quic.send_stream_data(stream_id, bytes(self.read.pop(stream_id)), end_stream=True)
        self.transmit()


async def main():
    args = parse_args()
    config = QuicConfiguration(
        is_client=False,
        alpn_protocols=args.alpn.split(","),
        idle_timeout=args.idle_timeout,
    )
    config.load_cert_chain(args.cert, args.key)
    host, port = args.listen

    def protocol(*a, **kw):
        return Echo(*a, rules=args, **kw)

    server = await serve(host, port, configuration=config, create_protocol=protocol, retry=not args.no_retry)
    bound = server._transport.get_extra_info("sockname")
    shown = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"
    print(f"listening on {shown}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except OSError as e:
        print(f"aioquic-echo: {e}", file=sys.stderr)
        sys.exit(1)
