"""A Hugging Face hub on localhost, for download tests: it answers the two requests
``hf_hub_download`` makes (HEAD for the file's commit, ETag and size; GET, with Range for a
resumed download) for the files it is given, optionally slowly, and records what it saw."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time


class FakeHub:
    def __init__(self, files: dict[tuple[str, str], bytes], chunk: int = 256 * 1024,
                 delay_s: float = 0.0):
        self.files, self.chunk, self.delay_s = files, chunk, delay_s
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args) -> None:
                pass

            def _file(self) -> bytes | None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                parts = self.path.split("?")[0].strip("/").split("/")  # org/repo/resolve/rev/f
                if len(parts) >= 5 and parts[2] == "resolve":
                    return hub.files.get(("/".join(parts[:2]), "/".join(parts[4:])))
                return None

            def _headers(self, data: bytes, length: int) -> None:
                self.send_header("X-Repo-Commit", "0" * 40)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(length))
                self.end_headers()

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
                data = self._file()
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self._headers(data, len(data))

            def do_GET(self) -> None:  # noqa: N802
                data = self._file()
                if data is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                start = 0
                if (wanted := self.headers.get("Range")) and wanted.startswith("bytes="):
                    start = int(wanted[6:].split("-")[0] or 0)
                self.send_response(206 if start else 200)
                self._headers(data, len(data) - start)
                try:
                    for at in range(start, len(data), hub.chunk):
                        self.wfile.write(data[at:at + hub.chunk])
                        time.sleep(hub.delay_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped (a cancel)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
