#!/usr/bin/env python3
"""A TCP relay on loopback that adds latency and counts bytes (bench/deploy.py's "network").

This machine's kernel has no netem (`tc qdisc add ... netem` answers "Specified qdisc kind is
unknown"), so the deploy benchmark adds its latency in userspace: every chunk read from one side
is written to the other side `delay_ms` after it was read (10 ms each way, so a round trip costs
about 20 ms), in order, each direction on its own, without a bandwidth limit of its own (up to
`window` bytes may be in flight per direction, 16 MiB by default, which at 10 ms is ~1.6 GB/s).
The bytes it forwards are counted per direction: that is the "bytes on the wire" of whatever tool
goes through it (TCP payload: SSH's encrypted stream or HTTP, not IP/TCP headers).

Not modelled: the TCP handshake's own round trip (a connection is open at once; its first bytes
then take the delay like any other) and loss. Each relay runs an asyncio loop in a thread of
its own; Python 3.11+, stdlib only.

usage:
  python3 bench/latency.py --self-check             echo server behind the relay: round trip ~20 ms
  python3 bench/latency.py --upstream 127.0.0.1:22 [--listen 0] [--delay-ms 10]
                                                    relay until Ctrl-C, printing its port and counts
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import socket
import statistics
import sys
import threading
import time

DEFAULT_DELAY_MS = 10.0
DEFAULT_WINDOW = 16 * 1024 * 1024
CHUNK = 256 * 1024


class DelayProxy:
    """Listens on 127.0.0.1 (a free port unless given) and relays each connection to
    `upstream`, every chunk `delay_ms` late, counting bytes: `up` (client -> server) and `down`
    (server -> client), and connections. `reset()` zeroes the counters between runs."""

    def __init__(self, upstream: tuple[str, int], delay_ms: float = DEFAULT_DELAY_MS,
                 port: int = 0, window: int = DEFAULT_WINDOW):
        self.upstream = upstream
        self.delay = delay_ms / 1000.0
        self.window = window
        self.up = 0
        self.down = 0
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="delay-proxy", daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", port), self.loop
        ).result(timeout=10)
        self.port = self.server.sockets[0].getsockname()[1]

    def reset(self) -> None:
        self.up = self.down = self.connections = 0

    def counts(self) -> dict:
        return {"bytes_up": self.up, "bytes_down": self.down, "bytes_total": self.up + self.down,
                "connections": self.connections}

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            return
        for stream in (writer, up_writer):
            sock = stream.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(self._direction(reader, up_writer, "up"),
                             self._direction(up_reader, writer, "down"))

    async def _direction(self, source, sink, counter: str):
        """Reads chunks as they come and hands each to the writer with its due time (read time +
        delay); the writer sleeps until then. The reader stops reading while `window` bytes wait."""
        queue: collections.deque = collections.deque()
        ready = asyncio.Event()
        room = asyncio.Event()
        room.set()
        state = {"queued": 0, "eof": False}

        async def read_side():
            try:
                while True:
                    await room.wait()
                    data = await source.read(CHUNK)
                    now = time.monotonic()
                    if not data:
                        break
                    if counter == "up":
                        self.up += len(data)
                    else:
                        self.down += len(data)
                    queue.append((now + self.delay, data))
                    state["queued"] += len(data)
                    if state["queued"] >= self.window:
                        room.clear()
                    ready.set()
            except (ConnectionError, OSError):
                pass
            finally:
                state["eof"] = True
                ready.set()

        async def write_side():
            try:
                while True:
                    if not queue:
                        if state["eof"]:
                            break
                        ready.clear()
                        await ready.wait()
                        continue
                    due, data = queue[0]
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    queue.popleft()
                    state["queued"] -= len(data)
                    if state["queued"] < self.window:
                        room.set()
                    sink.write(data)
                    await sink.drain()
                # The other side's EOF, passed on after the data before it (half-close, as TCP).
                if sink.can_write_eof():
                    sink.write_eof()
            except (ConnectionError, OSError):
                # The sink is gone: stop reading too, so the connection ends.
                room.set()
                try:
                    source.feed_eof()
                except Exception:
                    pass

        await asyncio.gather(read_side(), write_side())
        try:
            sink.close()
        except (ConnectionError, OSError, RuntimeError):
            pass

    def stop(self) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class EchoServer:
    """A loopback echo server (for the self-check)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(connection,), daemon=True).start()

    @staticmethod
    def _echo(connection):
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with connection:
            while data := connection.recv(65536):
                connection.sendall(data)

    def stop(self):
        self.listener.close()


def self_check(delay_ms: float = DEFAULT_DELAY_MS, rounds: int = 20) -> dict:
    """Round trips of one byte through the relay to an echo server, and 4 MB both ways: the
    median round trip must be within 2*delay + 8 ms (and not under 2*delay), the bytes counted
    exactly. Returns the figures; raises AssertionError when they are off."""
    echo = EchoServer()
    proxy = DelayProxy(("127.0.0.1", echo.port), delay_ms)
    try:
        started = time.monotonic()
        client = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connect_ms = (time.monotonic() - started) * 1000
        rtts = []
        for _ in range(rounds):
            t0 = time.monotonic()
            client.sendall(b"x")
            assert client.recv(1) == b"x"
            rtts.append((time.monotonic() - t0) * 1000)
        # Bulk: 4 MB out and back; it must not take much longer than the round trip plus the copy.
        blob = bytes(range(256)) * (4 * 1024 * 1024 // 256)
        t0 = time.monotonic()
        sender = threading.Thread(target=client.sendall, args=(blob,))
        sender.start()
        got = 0
        while got < len(blob):
            part = client.recv(1 << 20)
            assert part, "the relay closed early"
            got += len(part)
        sender.join()
        bulk_ms = (time.monotonic() - t0) * 1000
        client.close()
        time.sleep(0.1)
        counts = proxy.counts()
    finally:
        proxy.stop()
        echo.stop()
    result = {
        "delay_ms_each_way": delay_ms,
        "connect_ms": connect_ms,
        "rtt_ms_median": statistics.median(rtts),
        "rtt_ms_min": min(rtts),
        "rtt_ms_max": max(rtts),
        "bulk_4mb_echo_ms": bulk_ms,
        **counts,
    }
    expected = rounds + len(blob)
    assert 2 * delay_ms <= result["rtt_ms_median"] <= 2 * delay_ms + 8, result
    assert counts["bytes_up"] == expected and counts["bytes_down"] == expected, result
    return result


def main(argv) -> int:
    parser = argparse.ArgumentParser(description="a latency-adding TCP relay (see the docstring)")
    parser.add_argument("--self-check", action="store_true")
    parser.add_argument("--upstream", help="HOST:PORT to relay to")
    parser.add_argument("--listen", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--delay-ms", type=float, default=DEFAULT_DELAY_MS, help="each way (default 10)")
    args = parser.parse_args(argv[1:])
    if args.self_check:
        try:
            result = self_check(args.delay_ms)
        except AssertionError as error:
            print(f"latency self-check FAILED: {error}", file=sys.stderr)
            return 1
        print(f"latency self-check: round trip median {result['rtt_ms_median']:.1f} ms "
              f"(min {result['rtt_ms_min']:.1f}, max {result['rtt_ms_max']:.1f}; "
              f"{args.delay_ms:g} ms each way), connect {result['connect_ms']:.2f} ms, "
              f"4 MB echoed in {result['bulk_4mb_echo_ms']:.0f} ms, bytes counted "
              f"{result['bytes_up']} up / {result['bytes_down']} down: PASS")
        return 0
    if not args.upstream:
        parser.error("--upstream or --self-check")
    host, _, port = args.upstream.rpartition(":")
    proxy = DelayProxy((host, int(port)), args.delay_ms, args.listen)
    print(f"relaying 127.0.0.1:{proxy.port} -> {args.upstream}, {args.delay_ms:g} ms each way", flush=True)
    try:
        while True:
            time.sleep(5)
            print(f"{proxy.counts()}", flush=True)
    except KeyboardInterrupt:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
