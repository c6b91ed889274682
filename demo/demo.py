"""The relay's main job on real input: a signed GitHub push, end to end.

Starts the real server and client as processes, POSTs a GitHub ``push`` webhook to
the channel, and checks that a local target received the exact bytes with a
signature that still verifies. Exits 0 only when everything checks out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import string
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO, Any

import httpx

# Generous for a cold interpreter importing quart/hypercorn on a slow CI box.
START_TIMEOUT = 20.0
DELIVERY_TIMEOUT = 15.0
# Both CLIs stop well within this after SIGINT (server grace period is 3 s).
STOP_TIMEOUT = 5.0
SECRET = b"gosmee-trio-demo-secret"
CHANNEL_ALPHABET = string.ascii_letters + string.digits


class DemoError(Exception):
    """A step of the demo did not happen; the message says which."""


class LinePump:
    """Drains one pipe in a thread, keeping its lines, so the pipe never fills."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> str | None:
        """The first line containing ``text``; None on EOF or timeout."""

        def first() -> str | None:
            return next((line for line in self.lines if text in line), None)

        with self._changed:
            self._changed.wait_for(lambda: self._closed or first() is not None, timeout)
            return first()


class Process:
    """One CLI process with both output pipes drained."""

    def __init__(self, name: str, *args: str) -> None:
        self.name = name
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOSMEE_")}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "gosmee_trio", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            env=env,
            start_new_session=True,  # a Ctrl-C on the demo must not reach it twice
        )
        assert self.popen.stdout is not None and self.popen.stderr is not None
        self.stdout = LinePump(self.popen.stdout)
        self.stderr = LinePump(self.popen.stderr)

    def stop(self) -> str | None:
        """SIGINT, then kill after ``STOP_TIMEOUT``; what went wrong, if anything."""
        if (code := self.popen.poll()) is not None:
            return f"{self.name} had already exited with {code}"
        self.popen.send_signal(signal.SIGINT)
        try:
            code = self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            return f"{self.name} ignored SIGINT for {STOP_TIMEOUT:.0f}s and was killed"
        print(f"  {self.name} exit code after SIGINT: {code}")
        return None if code == 0 else f"{self.name} exited with {code} after SIGINT"

    def not_started(self, what: str) -> DemoError:
        code = self.popen.poll()
        if code is None:
            return DemoError(f"{self.name} did not {what} within {START_TIMEOUT:.0f}s")
        return DemoError(f"{self.name} exited with {code} before it could {what}")

    def show_log(self) -> None:
        print(f"--- {self.name} stderr (last 25 lines) ---")
        for line in self.stderr.lines[-25:]:
            print(f"  {line}")


# method, path with query, headers in arrival order, body
Delivery = tuple[str, str, list[tuple[str, str]], bytes]


@dataclass
class Recorder:
    """What the target received, exactly as it arrived."""

    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


def start_target(recorder: Recorder) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            recorder.deliveries.append(
                (self.command, self.path, list(self.headers.items()), body)
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            recorder.arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the demo prints what matters itself

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def push_payload() -> bytes:
    repo = "octo-org/hello-relay"
    sha, parent = "7c0b0f9f1e4d2a35b6c8d9e0f1a2b3c4d5e6f708", "a" * 40
    person = {"name": "Zoë Martín", "email": "zoe@example.com", "username": "zoe-m"}
    commit = {
        "id": sha,
        "tree_id": "0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e",
        "distinct": True,
        "message": "Fix café encoding ✓\n\nNormalise names to NFC before hashing.",
        "timestamp": "2025-05-14T10:21:07+02:00",
        "url": f"https://github.com/{repo}/commit/{sha}",
        "author": person,
        "committer": person,
        "added": [],
        "removed": [],
        "modified": ["src/names.py", "tests/test_names.py"],
    }
    repository = {
        "id": 812734561,
        "node_id": "R_kgDOMHAbYQ",
        "name": repo.partition("/")[2],
        "full_name": repo,
        "private": False,
        "owner": {"name": "octo-org", "login": "octo-org", "id": 583231, "type": "Org"},
        "html_url": f"https://github.com/{repo}",
        "default_branch": "main",
        "pushed_at": 1747210867,
    }
    payload = {
        "ref": "refs/heads/main",
        "before": parent,
        "after": sha,
        "repository": repository,
        "pusher": {"name": "zoe-m", "email": "zoe@example.com"},
        "sender": {"login": "zoe-m", "id": 9919, "type": "User"},
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{repo}/compare/{parent[:12]}...{sha[:12]}",
        "commits": [commit],
        "head_commit": commit,
    }
    # GitHub sends compact UTF-8 JSON with non-ASCII characters unescaped.
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def github_headers(body: bytes) -> dict[str, str]:
    return {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "User-Agent": f"GitHub-Hookshot/{secrets.token_hex(4)[:7]}",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Event": "push",
        "X-GitHub-Hook-ID": "512345678",
        "X-GitHub-Hook-Installation-Target-ID": "812734561",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-Hub-Signature": "sha1=" + hmac.new(SECRET, body, "sha1").hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET, body, "sha256").hexdigest(),
    }


def start_server(processes: list[Process]) -> str:
    server = Process("server", "server", "--address", "127.0.0.1", "--port", "0")
    processes.append(server)
    line = server.stdout.wait_for("Serving for webhooks on", START_TIMEOUT)
    match = re.search(r"Serving for webhooks on (\S+)", line or "")
    if match is None:
        raise server.not_started("report listening")
    return match.group(1)


def start_client(processes: list[Process], webhook_url: str, target_url: str) -> None:
    client = Process("client", "client", webhook_url, target_url)
    processes.append(client)
    if client.stderr.wait_for("stream ready", START_TIMEOUT) is None:
        raise client.not_started("report its stream ready")


def send_webhook(webhook_url: str, body: bytes, headers: dict[str, str]) -> None:
    with httpx.Client(trust_env=False, timeout=10.0) as http:
        reply = http.post(webhook_url, content=body, headers=headers)
    print(f"server replied {reply.status_code}: {reply.text.strip()}")
    if reply.status_code != 202:
        raise DemoError(f"expected 202 from the server, got {reply.status_code}")


def verify(recorder: Recorder, sent: bytes, headers: dict[str, str]) -> list[str]:
    """Print the delivery as the target saw it; the failed checks."""
    method, path, received_headers, body = recorder.deliveries[0]
    print(f"\ntarget received: {method} {path}")
    for name, value in received_headers:
        print(f"  {name}: {value}")
    print(f"  body: {len(body)} bytes; first 300 chars:")
    print(f"  {body.decode('utf-8', errors='replace')[:300]}")
    print(f"  head_commit.message: {_commit_message(body)}")

    received = {name.lower(): value for name, value in received_headers}
    changed = [k for k, v in headers.items() if received.get(k.lower()) != v]
    signature = received.get("x-hub-signature-256", "")
    expected = "sha256=" + hmac.new(SECRET, body, "sha256").hexdigest()
    signature_ok = hmac.compare_digest(signature.encode(), expected.encode())
    print("\nverification:")
    print(f"  sha256(sent body)     = {hashlib.sha256(sent).hexdigest()}")
    print(f"  sha256(received body) = {hashlib.sha256(body).hexdigest()}")
    print(f"  bodies identical: {body == sent}")
    print(f"  X-Hub-Signature-256 verifies against received body: {signature_ok}")
    print(f"  GitHub headers unchanged: {len(headers) - len(changed)}/{len(headers)}")

    failures = [] if body == sent else ["received body differs from sent body"]
    failures += [] if signature_ok else ["X-Hub-Signature-256 does not verify"]
    return failures + [f"header {name} missing or changed" for name in changed]


def _commit_message(body: bytes) -> str:
    try:
        return repr(json.loads(body)["head_commit"]["message"])
    except (ValueError, KeyError, TypeError):
        return "(body is not a push payload)"


def run(recorder: Recorder, target_url: str, processes: list[Process]) -> list[str]:
    server_url = start_server(processes)
    channel = "".join(secrets.choice(CHANNEL_ALPHABET) for _ in range(16))
    webhook_url = f"{server_url}/{channel}"
    print(f"webhook URL: {webhook_url}\ntarget URL:  {target_url}")
    start_client(processes, webhook_url, target_url)

    body = push_payload()
    headers = github_headers(body)
    print(f"\nPOST push webhook ({len(body)} bytes, signed with the demo secret)")
    send_webhook(webhook_url, body, headers)
    if not recorder.arrived.wait(DELIVERY_TIMEOUT):
        raise DemoError(f"target received nothing within {DELIVERY_TIMEOUT}s")
    return verify(recorder, body, headers)


def stop_all(processes: list[Process]) -> list[str]:
    """Stop the client before the server, as an operator would; the failures."""
    print("\nshutdown:")
    problems = [process.stop() for process in reversed(processes)]
    for problem in filter(None, problems):
        print(f"  {problem}")
    return [problem for problem in problems if problem]


def main() -> int:
    recorder = Recorder()
    target = start_target(recorder)
    target_url = f"http://127.0.0.1:{target.server_address[1]}/hooks/github?via=relay"
    processes: list[Process] = []
    try:
        failures = run(recorder, target_url, processes)
    except (DemoError, httpx.HTTPError) as exc:
        failures = [str(exc)]
    except KeyboardInterrupt:
        failures = ["interrupted"]
    finally:
        failures_on_stop = stop_all(processes)
        target.shutdown()
        target.server_close()

    count = len(recorder.deliveries)
    failures += failures_on_stop
    failures += [] if count <= 1 else [f"target received {count} deliveries, not 1"]
    if failures:
        for process in processes:
            process.show_log()
        print(f"DEMO FAILED: {'; '.join(failures)}")
        return 1
    print("DEMO OK: push webhook relayed byte for byte; signature verifies at target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
