"""Local receivers for the notify role's channels, and helpers to run playbooks/daily.yml against stand-ins.

- WebhookReceiver: an http.server in a thread on 127.0.0.1 (free port) that
  records every POST (path and parsed JSON body) and answers 200 (or the
  status it is given), like a Slack-compatible incoming webhook.
- SmtpReceiver: an aiosmtpd Controller on 127.0.0.1 (free port) that records
  every message (envelope and parsed email) and accepts AUTH PLAIN/LOGIN
  without TLS for one user and password.

Both are context managers; `start()`/`stop()` do the same by hand;
`notifiers()` gives both at once.

Shared by test_daily_playbook.py and test_daily_alerts.py: host_vars() and
write_inventory() build an inventory for stand-ins, run_daily() runs the
playbook like an operator and checks every run's output and reports for the
secrets the inventory and the containers carry, take_backup()/old_backups()
make real backups (aged on request), start_standins() starts stand-ins side
by side.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers.shop_vars import milos_shop_vars
from tests.helpers.standin import Standin


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- webhook ---------------------------------------------------------------------

@dataclass
class Post:
    path: str
    headers: dict
    body: object  # parsed JSON, or the raw text when it is not JSON

    @property
    def text(self) -> str:
        return self.body.get("text", "") if isinstance(self.body, dict) else ""


class WebhookReceiver:
    """Record JSON POSTs on http://127.0.0.1:<port>/<any path>."""

    def __init__(self, status: int = 200):
        self.status = status
        self.posts: list[Post] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw
                with receiver._lock:
                    receiver.posts.append(Post(self.path, dict(self.headers), body))
                payload = b"ok"
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)

    def url(self, path: str = "/hooks/test") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def take(self) -> list[Post]:
        """The posts received so far, and forget them."""
        with self._lock:
            posts, self.posts = self.posts, []
        return posts

    def start(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- SMTP ------------------------------------------------------------------------

@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list
    message: EmailMessage
    auth: object = None  # the login the session authenticated with, if any

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def body(self) -> str:
        parts = [p for p in self.message.walk() if p.get_content_type() == "text/plain"]
        return "\n".join(p.get_content() for p in parts)


@dataclass
class _Handler:
    mails: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message, session.auth_data))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """Record messages sent to 127.0.0.1:<port>; AUTH (PLAIN, LOGIN) without TLS when a user is given."""

    def __init__(self, username: str | None = None, password: str | None = None):
        self.username = username
        self.password = password
        self.port = free_port()
        self.host = "127.0.0.1"
        self._handler = _Handler()
        kwargs = {}
        if username is not None:
            kwargs = {"auth_require_tls": False, "authenticator": self._authenticate}
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, **kwargs)
        self.failed_logins = 0

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.username \
                and auth_data.password.decode() == self.password:
            return AuthResult(success=True, auth_data=self.username)
        self.failed_logins += 1
        return AuthResult(success=False, handled=False)

    @property
    def mails(self) -> list[Mail]:
        return list(self._handler.mails)

    def take(self) -> list[Mail]:
        """The messages received so far, and forget them."""
        with self._handler.lock:
            mails, self._handler.mails = self._handler.mails, []
        return mails

    def start(self) -> "SmtpReceiver":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> "SmtpReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- running playbooks/daily.yml against stand-ins ----------------------------------
# Shared by test_daily_playbook.py and test_daily_alerts.py.

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Secrets that must never show in a run's output or in a report. The webhook
# URL carries a token path, the SMTP login has a password, and the stand-ins'
# containers get a Sentry DSN in their environment (docker inspect shows it).
WEBHOOK_TOKEN_PATH = "/hooks/T0KEN-SECRET-123"
SMTP_USER = "smtp-user"
SMTP_PASSWORD = "SMTP-PASSWORD-SECRET-456"
SENTRY_DSN = "https://SENTRY-SECRET-789abc@o4500.ingest.sentry.io/4242"
SECRETS = ("T0KEN-SECRET-123", SMTP_PASSWORD, "SENTRY-SECRET-789abc")
STANDIN_ENV = {"SENTRY_DSN": SENTRY_DSN}

BACKUP_PREFIX = "milos_shop_backup_"
ITEM_ORDER = ["containers", "logs", "disk", "backup", "health", "resources"]


def assert_no_secrets(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret!r} shown in {where}"


@dataclass
class Notifiers:
    webhook: WebhookReceiver
    smtp: SmtpReceiver

    def take(self) -> tuple[list[Post], list[Mail]]:
        return self.webhook.take(), self.smtp.take()


@contextmanager
def notifiers(webhook_status: int = 200):
    """A webhook receiver (answering webhook_status) and an SMTP server (AUTH without TLS) for one test."""
    with WebhookReceiver(webhook_status) as webhook, SmtpReceiver(SMTP_USER, SMTP_PASSWORD) as smtp:
        yield Notifiers(webhook, smtp)


def host_vars(standin, backup_dir: Path, report_dir: Path, notify: Notifiers | None = None, **extra) -> dict:
    """Inventory variables for one host that checks one stand-in, on this machine."""
    hv = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        **milos_shop_vars(standin, backup_dir),
        "report_dir": str(report_dir),
        # The test machine's CPU is busy with other tests: keep that alert out.
        "daily_cpu_threshold_percent": 100,
        "daily_cpu_interval_s": 0.5,
        "report_history_enabled": False,
    }
    if notify is not None:
        hv.update({
            "notify_webhook_enabled": True,
            "notify_webhook_url": notify.webhook.url(WEBHOOK_TOKEN_PATH),
            "notify_email_enabled": True,
            "notify_smtp_host": notify.smtp.host,
            "notify_smtp_port": notify.smtp.port,
            "notify_smtp_username": SMTP_USER,
            "notify_smtp_password": SMTP_PASSWORD,
            "notify_smtp_secure": "never",
            "notify_email_to": ["ops@example.com"],
            "notify_smtp_timeout": 10,
            "notify_webhook_timeout": 10,
        })
    hv.update(extra)
    return hv


def write_inventory(path: Path, hosts: dict[str, dict]) -> Path:
    path.write_text(yaml.safe_dump({"milos_shop": {"hosts": hosts}}))
    return path


@dataclass
class Run:
    """One ansible-playbook run and the files it left in the report directory (read right after the run:
    a later run in the same directory writes over them)."""

    returncode: int
    stdout: str
    stderr: str
    report_dir: Path
    files: dict = field(default_factory=dict)  # path relative to report_dir -> text

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def text(self, relative: str) -> str:
        assert relative in self.files, f"the run left no {relative} in {self.report_dir}: {sorted(self.files)}"
        return self.files[relative]

    def report(self, host: str = "shop") -> dict:
        return json.loads(self.text(f"daily/{host}/latest.json"))

    def markdown(self, host: str = "shop") -> str:
        return self.text(f"daily/{host}/latest.md")

    def items(self, host: str = "shop") -> dict[str, dict]:
        return {item["id"]: item for item in self.report(host)["items"]}

    def summary(self) -> dict:
        return json.loads(self.text("daily/summary.json"))

    def summary_markdown(self) -> str:
        return self.text("daily/summary.md")

    def custom_stats(self) -> str:
        """The CUSTOM STATS section of the output (ANSIBLE_SHOW_CUSTOM_STATS)."""
        _before, sep, rest = self.stdout.partition("CUSTOM STATS")
        return rest if sep else ""

    def explain(self) -> str:
        return f"exit {self.returncode}\n{self.stdout[-12000:]}\n{self.stderr[-3000:]}"

    def assert_no_secrets(self) -> None:
        assert_no_secrets(self.output, "the playbook's output")
        for relative, text in self.files.items():
            assert_no_secrets(text, f"{self.report_dir}/{relative}")


def run_daily(inventory: Path, report_dir: Path, *args: str, timeout: int = 300) -> Run:
    """Run playbooks/daily.yml like an operator; every run is checked for secrets."""
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_SHOW_CUSTOM_STATS="1")
    res = subprocess.run([str(BIN / "ansible-playbook"), "playbooks/daily.yml", "-i", str(inventory), *args],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    files = {p.relative_to(report_dir).as_posix(): p.read_text(errors="replace")
             for p in sorted(report_dir.rglob("*")) if p.is_file()} if report_dir.exists() else {}
    run = Run(res.returncode, res.stdout, res.stderr, report_dir, files)
    run.assert_no_secrets()
    return run


def backup_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def take_backup(src: Path, dest: Path) -> Path:
    """One real backup of src into dest, by the sqlite_backup module run as Ansible runs it."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as args:
        json.dump({"ANSIBLE_MODULE_ARGS": {"src": str(src), "dest": str(dest), "create_dest": True}}, args)
        args.flush()
        env = dict(os.environ, PYTHONPATH=f"{ROOT / '.cache' / 'collections'}")
        out = subprocess.run([sys.executable, "-m", "ansible_collections.milos_shop.ops.plugins.modules.sqlite_backup", args.name],
                             capture_output=True, text=True, env=env, check=False)
    result = json.loads(out.stdout)
    assert not result.get("failed"), result
    return Path(result["path"])


def age_backup(path: Path, hours: float) -> Path:
    """Rename a backup and its manifest as if taken `hours` ago, and fix the manifest to match."""
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours)
    name = f"{BACKUP_PREFIX}{when:%Y-%m-%dT%H-%M-%S}.db.gz"
    if name == path.name:
        return path
    manifest = json.loads(Path(f"{path}.manifest.json").read_text())
    manifest.update(backup=name, created=f"{when:%Y-%m-%dT%H:%M:%SZ}")
    new = path.with_name(name)
    path.rename(new)
    Path(f"{new}.manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    Path(f"{path}.manifest.json").unlink()
    return new


def old_backups(src: Path, dest: Path, *hours: float) -> list[str]:
    """Valid backups of src in dest, as if taken the given hours ago."""
    for h in hours:
        age_backup(take_backup(src, dest), h)
    return backup_files(dest)


def start_standins(base: Path, count: int) -> list[Standin]:
    """Start stand-ins in parallel (each `compose up --wait` mostly waits)."""
    made = [Standin(base, app_env=STANDIN_ENV) for _index in range(count)]
    errors = []

    def up(s):
        try:
            s.up()
        except Exception as exc:  # pylint: disable=broad-except
            errors.append(exc)

    threads = [threading.Thread(target=up, args=(s,)) for s in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for s in made:
            s.destroy()
        raise errors[0]
    return made


def wait_for(predicate, timeout: float = 60, interval: float = 0.5, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} did not hold within {timeout} s")
