"""Slack's Socket Mode endpoint, faked: a WebSocket server on 127.0.0.1 speaking Slack's envelope protocol.

Each connection gets `hello`; the test pushes envelopes (`slash_commands`, `interactive`, `events_api`) and
reads the acknowledgements the client sends back, with how long each took. `disconnect` sends Slack's
refresh warning; `close` ends a connection with a close frame and `drop` cuts it without one. Point
`FakeSlack.socket_url` at `url`, and apps.connections.open hands it to the client.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import socketserver
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from tests.processes import wait_until

__all__ = ["Ack", "FakeSocketMode"]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA

T = TypeVar("T")


@dataclass(frozen=True)
class Ack:
    """An envelope's acknowledgement: what the client sent back, and seconds since the envelope went out."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float


class _Connection:
    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.number = number
        self.open = True
        self._lock = threading.Lock()

    def send(self, opcode: int, data: bytes) -> None:
        length = len(data)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, length)
        with self._lock:
            self.sock.sendall(header + data)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send(TEXT, json.dumps(message).encode())


class FakeSocketMode:
    """A WebSocket server for slack_sdk's SocketModeClient."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._sent: dict[str, float] = {}
        self._acks: dict[str, Ack] = {}
        self._attempts: dict[str, int] = {}
        self._messages: list[dict[str, Any]] = []
        self.errors: list[BaseException] = []
        self.url = ""
        self._server: socketserver.ThreadingTCPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSocketMode:
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fake._serve(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._server = server
        # What apps.connections.open hands out; plain ws, as slack_sdk uses TLS only on port 443.
        self.url = f"ws://127.0.0.1:{server.server_address[1]}/link/?ticket=fake-ticket"
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        for connection in self.connections:
            self._hang_up(connection)
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what the test does ----------------------------------------------------------------

    @property
    def connections(self) -> list[_Connection]:
        """Connections still open, oldest first."""
        with self._lock:
            return [c for c in self._connections if c.open]

    @property
    def connection_count(self) -> int:
        """Connections ever accepted."""
        with self._lock:
            return len(self._connections)

    def send_envelope(self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = True,
                      redeliver: str | None = None) -> str:
        """Push one envelope down the newest open connection; returns its envelope_id. `redeliver` sends
        the envelope with that id again, as Slack does when it got no ack, with its next retry_attempt."""
        envelope_id = redeliver or str(uuid.uuid4())
        connection = self.wait_for(lambda: (self.connections or [None])[-1], description="an open connection")
        with self._lock:
            self._sent[envelope_id] = time.monotonic()
            self._acks.pop(envelope_id, None)
            attempt = self._attempts[envelope_id] = self._attempts.get(envelope_id, -1) + 1
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": accepts_response_payload}
        if attempt:
            envelope.update(retry_attempt=attempt, retry_reason="timeout")
        connection.send_json(envelope)
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> Ack:
        return self.wait_for(lambda: self._acks.get(envelope_id), timeout,
                             description=f"the ack of {envelope_id}")

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Slack's warning that it will close the newest connection soon; the client should move on."""
        self.connections[-1].send_json({"type": "disconnect", "reason": reason,
                                        "debug_info": {"host": "fake-socket-mode"}})

    def close(self, code: int = 1001) -> None:
        """End the newest connection with a close frame, as a server going away does."""
        connection = self.connections[-1]
        connection.send(CLOSE, struct.pack("!H", code))
        self._hang_up(connection)

    def drop(self) -> None:
        """Cut the newest connection without a close frame, as a lost network does."""
        self._hang_up(self.connections[-1])

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0, *, description: str = "") -> T:
        """`predicate()`'s first truthy value; AssertionError after `timeout` seconds."""
        return wait_until(predicate, timeout, description or "a condition on the Socket Mode server")

    # -- serving ---------------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        stream = sock.makefile("rb")
        if not self._handshake(sock, stream):
            return
        with self._lock:
            connection = _Connection(sock, len(self._connections) + 1)
            self._connections.append(connection)
        try:
            connection.send_json({"type": "hello", "num_connections": len(self.connections),
                                  "debug_info": {"host": "fake-socket-mode",
                                                 "approximate_connection_time": 18060},
                                  "connection_info": {"app_id": "A0RELAYAPP"}})
            self._read(connection, stream)
        except OSError:
            pass  # the client or the test hung up
        except Exception as err:  # a bug in the fake must fail the test
            with self._lock:
                self.errors.append(err)
        finally:
            self._hang_up(connection)

    def _handshake(self, sock: socket.socket, stream: Any) -> bool:
        headers = {}
        request_line = stream.readline()
        while True:
            line = stream.readline().decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        key = headers.get("sec-websocket-key")
        upgrade = headers.get("upgrade", "").lower() == "websocket"
        if not request_line.startswith(b"GET ") or not upgrade or not key:
            sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        return True

    def _read(self, connection: _Connection, stream: Any) -> None:
        while connection.open:
            frame = _read_frame(stream)
            if frame is None:
                return
            opcode, data = frame
            if opcode == PING:
                connection.send(PONG, data)
            elif opcode == CLOSE:
                connection.send(CLOSE, data[:2])
                return
            elif opcode == TEXT:
                self._received(json.loads(data))

    def _received(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._messages.append(message)
            envelope_id = message.get("envelope_id")
            if envelope_id in self._sent and envelope_id not in self._acks:
                seconds = time.monotonic() - self._sent[envelope_id]
                self._acks[envelope_id] = Ack(envelope_id, message.get("payload"), seconds)

    def _hang_up(self, connection: _Connection) -> None:
        with self._lock:
            if not connection.open:
                return
            connection.open = False
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)
        connection.sock.close()


def _read_frame(stream: Any) -> tuple[int, bytes] | None:
    """One client frame (clients always mask), or None when the connection ended."""
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack("!Q", stream.read(8))[0]
    mask = stream.read(4) if head[1] & 0x80 else b""
    data = stream.read(length)
    if mask:
        data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    return opcode, data
