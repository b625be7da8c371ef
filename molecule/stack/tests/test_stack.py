"""Testinfra checks of role milos_shop.ops.stack after converge."""

import json
import os

PROJECT = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "project")
CONTAINER = "milos-shop-molecule"
PORT = "15099"


def test_env_file_is_private(host):
    env = host.file(f"{PROJECT}/.env")
    assert env.is_file
    assert env.user == "root" and env.group == "root"
    assert env.mode == 0o600
    assert "NODE_ENV=production" in env.content_string
    assert "SENTRY_DSN=https://molecule-secret-key@sentry.invalid/1" in env.content_string


def test_data_directory(host):
    data = host.file(f"{PROJECT}/data")
    assert data.is_directory
    assert (data.uid, data.gid) == (1000, 1000)
    assert data.mode == 0o750


def test_backup_directory_owner_only(host):
    backups = host.file(f"{PROJECT}/backups")
    assert backups.is_directory
    assert backups.mode == 0o700


def test_database_created_in_data_directory(host):
    assert host.file(f"{PROJECT}/data/milos_shop.db").is_file


def test_port_on_loopback_only(host):
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening


def test_container_running_and_healthy(host):
    assert host.docker(CONTAINER).is_running
    state = json.loads(host.check_output("docker inspect -f '{{json .State}}' %s", CONTAINER))
    assert state["Health"]["Status"] == "healthy"


def test_health_endpoint(host):
    body = host.check_output("curl -fsS http://127.0.0.1:%s/api/services", PORT)
    assert isinstance(json.loads(body), list) and json.loads(body)


def test_secret_not_in_container_logs(host):
    logs = host.check_output("docker logs %s 2>&1", CONTAINER)
    assert "molecule-secret-key" not in logs
