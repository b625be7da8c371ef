# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The app container's state and its verdict (milos_shop.ops.container_status).

:func:`facts_of` keeps what a check needs from ``docker inspect`` and nothing
else: never the environment (it holds the app's secrets), the command line or
the labels. :func:`judge` turns those facts into the ``containers`` checklist
item; :func:`database_host_path` finds the host side of the mount that holds
the database. No Ansible or Docker import: unit-tested from case tables.
"""

from __future__ import annotations

import datetime
import posixpath
import re

from ansible_collections.milos_shop.ops.plugins.module_utils._checklist import alert, make_item

ITEM_ID = "containers"
ITEM_TITLE = "Containers up (docker-compose ps)"

# Docker's time stamps carry nanoseconds; datetime takes microseconds.
_DOCKER_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$")


def parse_docker_time(text):
    """A Docker time stamp as an aware UTC datetime; None when empty, unreadable or Docker's zero time."""
    if not isinstance(text, str):
        return None
    match = _DOCKER_TIME_RE.match(text.strip())
    if not match or text.startswith("0001-01-01"):
        return None
    base, fraction, zone = match.groups()
    stamp = base + ("." + (fraction + "000000")[:6] if fraction else "")
    zone = "+00:00" if zone in (None, "Z") else zone
    try:
        moment = datetime.datetime.fromisoformat(stamp + zone)
    except ValueError:
        return None
    return moment.astimezone(datetime.timezone.utc)


def _mount(entry):
    return {
        "type": entry.get("Type"),
        "source": entry.get("Source"),
        "destination": entry.get("Destination"),
        "rw": entry.get("RW"),
    }


def facts_of(inspect, name=None):
    """The facts a check needs from one ``docker inspect`` document (None: no such container).

    Only state, restart count, image and mounts are kept: never ``Config.Env``
    (the app's secrets), ``Config.Cmd``/``Args`` or labels.
    """
    if not inspect:
        return {"exists": False, "name": name, "id": None, "status": "missing", "running": False, "restarting": False,
                "health": "none", "restart_count": 0, "started_at": None, "finished_at": None, "exit_code": None,
                "oom_killed": False, "image": None, "mounts": []}
    state = inspect.get("State") or {}
    config = inspect.get("Config") or {}
    health = state.get("Health") or {}
    return {
        "exists": True,
        "name": (inspect.get("Name") or name or "").lstrip("/") or name,
        "id": inspect.get("Id"),
        "status": state.get("Status") or "unknown",
        "running": bool(state.get("Running")),
        "restarting": bool(state.get("Restarting")),
        "health": health.get("Status") or "none",
        "restart_count": int(inspect.get("RestartCount") or 0),
        "started_at": state.get("StartedAt"),
        "finished_at": state.get("FinishedAt"),
        "exit_code": state.get("ExitCode"),
        "oom_killed": bool(state.get("OOMKilled")),
        "image": config.get("Image"),
        # Docker lists the mounts in no fixed order: by destination, so that two reads compare equal.
        "mounts": sorted((_mount(m) for m in inspect.get("Mounts") or []), key=lambda m: str(m["destination"])),
    }


def uptime_seconds(facts, now):
    """Whole seconds since the last start of a running container; 0 when it is not running."""
    if not facts["running"]:
        return 0
    started = parse_docker_time(facts["started_at"])
    if started is None:
        return 0
    return max(0, int((now - started).total_seconds()))


def judge(facts, name, restart_loop_count=3, restart_window_s=600, now=None, item_id=ITEM_ID, title=ITEM_TITLE):
    """The ``containers`` item for the facts of one container.

    fail: missing, not running, restarting, unhealthy, or in a restart loop
    (``restart_loop_count`` restarts or more, and up less than
    ``restart_window_s`` seconds since the last start, 0 when not running);
    warn: Docker health ``starting``; pass otherwise.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    uptime = uptime_seconds(facts, now)
    restarts = facts["restart_count"]
    loop = facts["exists"] and restarts >= restart_loop_count and uptime < restart_window_s
    evidence = {
        "exists": facts["exists"],
        "status": facts["status"],
        "health": facts["health"],
        "restart_count": restarts,
        "restart_loop": bool(loop),
        "uptime_s": uptime,
        "started_at": facts["started_at"],
        "image": facts["image"],
        "restart_loop_count": restart_loop_count,
        "restart_window_s": restart_window_s,
    }
    if not facts["exists"]:
        message = "container %s does not exist" % name
        return make_item(item_id, title, summary=message, evidence=evidence,
                         alerts=[alert("missing", "fail", message, value=False, threshold=True)])

    alerts = []
    if facts["restarting"]:
        alerts.append(alert("restarting", "fail", "container %s is restarting" % name, value=facts["status"], threshold="running"))
    elif not facts["running"]:
        exited = " (exit code %s)" % facts["exit_code"] if facts["exit_code"] not in (None, 0) else ""
        alerts.append(alert("not_running", "fail", "container %s is %s%s" % (name, facts["status"], exited),
                            value=facts["status"], threshold="running"))
    if loop:
        alerts.append(alert("restart_loop", "fail",
                            "container %s restarted %d times and is up %d s (a loop is %d restarts within %d s of the last start)"
                            % (name, restarts, uptime, restart_loop_count, restart_window_s),
                            value=restarts, threshold=restart_loop_count))
    if facts["health"] == "unhealthy":
        alerts.append(alert("unhealthy", "fail", "container %s is unhealthy (Docker health check)" % name,
                            value="unhealthy", threshold="healthy"))
    elif facts["health"] == "starting":
        alerts.append(alert("starting", "warn", "container %s is still starting (Docker health check)" % name,
                            value="starting", threshold="healthy"))
    summary = "container %s is %s%s, health %s, %d restarts, up %d s" % (
        name, facts["status"], " in a restart loop" if loop else "", facts["health"], restarts, uptime)
    return make_item(item_id, title, summary=summary, evidence=evidence, alerts=alerts)


def error_result(name, message, item_id=ITEM_ID, title=ITEM_TITLE):
    """The item when the container's state cannot be read at all (no daemon, no permission)."""
    summary = "cannot read the state of container %s: %s" % (name, message)
    return make_item(item_id, title, summary=summary, evidence={"exists": None},
                     alerts=[alert("check_error", "fail", summary)])


def database_host_path(facts, database_path):
    """``(host_path, mount, error)``: where the database at ``database_path`` in the container is on the host.

    The mount whose destination is the file itself wins; else the one whose
    destination is its directory, else its nearest parent directory. ``error``
    says why there is none (no container, no mount there, a mount without a host
    side); then ``host_path`` and ``mount`` are None.
    """
    name = facts.get("name")
    if not facts["exists"]:
        return None, None, "container %s does not exist: cannot find %s from its mounts" % (name, database_path)
    path = posixpath.normpath(database_path)
    best = None
    for mount in facts["mounts"]:
        dest = posixpath.normpath(mount.get("destination") or "")
        if not dest.startswith("/"):
            continue
        if dest == path or path.startswith(dest.rstrip("/") + "/"):
            if best is None or len(dest) > len(posixpath.normpath(best["destination"])):
                best = mount
    if best is None:
        mounted = ", ".join(sorted(m["destination"] for m in facts["mounts"] if m.get("destination"))) or "nothing"
        return None, None, ("container %s mounts nothing at %s or above it (it mounts %s): the database is not on the host"
                            % (name, posixpath.dirname(path), mounted))
    if not best.get("source"):
        return None, best, "the mount of container %s at %s has no host side (type %s)" % (name, best["destination"], best.get("type"))
    dest = posixpath.normpath(best["destination"])
    rest = posixpath.relpath(path, dest) if path != dest else ""
    host = best["source"] if not rest else posixpath.join(best["source"], rest)
    return host, best, None
