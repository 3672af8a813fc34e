"""The client over a real socket: a server that drops the connection midway through a body."""

import socket
import threading

import pytest
from placewise.api.client import ApiCall, PlacewiseClient
from placewise.api.contract import Endpoint, build_query_body
from placewise.api.customer import CustomerSelector
from placewise.api.settings import ApiSettings

BODY = (
    b'{"records": ['
    + b",".join(b'{"id": %d}' % i for i in range(2000))
    + b'], "result_type": "records"}'
)


class FlakyServer:
    """Answers the first request with half a body and a closed socket, later ones in full."""

    def __init__(self, chunked_first: bool):
        self.chunked_first = chunked_first
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    )
                )
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests += 1
                first = self.requests == 1
                if first and self.chunked_first:
                    half = BODY[: len(BODY) // 2]
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n"
                        + b"%x\r\n" % len(half)
                        + half
                        + b"\r\n"
                    )
                elif first:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY[: len(BODY) // 2]
                    )
                else:
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
                    )

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("chunked_first", [False, True], ids=["content-length", "chunked"])
def test_connection_dropped_mid_body_is_retried_and_lands_the_full_body(chunked_first, landing):
    server = FlakyServer(chunked_first)
    settings = ApiSettings(base_url=f"http://127.0.0.1:{server.port}", token="t", timeout_s=5)
    call = ApiCall.build(Endpoint.EXPORT, CustomerSelector.club(1), build_query_body("sendings"))
    try:
        with PlacewiseClient(settings, sleep=lambda s: None) as client:
            result = client.download(call, landing.open)
    finally:
        server.close()
    assert [a.outcome for a in result.attempts] == ["truncated_body", "ok"]
    assert len(landing.discarded) == 1 and len(landing.discarded[0]) < len(BODY)
    assert landing.kept == [BODY]
