#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: log_scan
short_description: Scan the app container's logs for errors, 5xx answers and slow requests
version_added: 0.1.0
description:
  - Reads the logs of a container over a time window (by default the last 24 hours) through the Docker API, without
    shelling out, and streams them line by line, so memory does not grow with the size of the log.
  - Replaces the guide's C(docker-compose logs --since 24h | grep -i error) and its alerts on 5xx errors and answers
    slower than 5 s.
  - "Parses the guide's request line format C(METHOD /api/path STATUS in DURATIONms :: {response_json}) and counts the
    5xx answers and the requests slower than O(slow_threshold_ms)."
  - Counts error-level lines (C([error]), C([fatal]), ... or, in lines without a level, the words error, exception,
    fatal, unhandled, uncaught and panic, and Node's C(TypeError) and the like) and groups them by signature (the
    message with numbers, ids, times and quoted strings replaced), with a count, the first and last time seen and a
    sample line. Returns the O(top) most frequent groups.
  - Lines it cannot parse are counted in RV(unparsed_lines), never fatal. The indented C(at ...) frames of a stack trace
    are neither errors nor unparsed lines; a line longer than 1 MiB is read up to 1 MiB.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
  - milos_shop.ops._attributes.read_only
requirements:
  - docker (the Python Docker SDK) on the target
options:
  container:
    description:
      - Name or id of the container whose logs are read.
    type: str
    default: milos-shop
  since:
    description:
      - The window, back from now, as a number and a unit C(s), C(m), C(h) or C(d), for example V(24h) or V(90m).
    type: str
    default: 24h
  slow_threshold_ms:
    description:
      - A request that took longer than this, in milliseconds, counts as slow.
    type: int
    default: 5000
  top:
    description:
      - How many error, 5xx and slow-request groups to return, most frequent first.
    type: int
    default: 5
  max_errors:
    description:
      - Alert when there are more error lines than this in the window.
    type: int
    default: 0
  max_5xx:
    description:
      - Alert when there are more 5xx answers than this in the window.
    type: int
    default: 0
  max_slow:
    description:
      - Alert when there are more slow requests than this in the window.
    type: int
    default: 0
  docker_host:
    description:
      - The Docker daemon to talk to. Defaults to E(DOCKER_HOST), else the local socket.
    type: str
  fail_on_alert:
    description:
      - Fail the task when any alert is raised. With V(false) the task succeeds and RV(ok) tells.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Errors, 5xx and slow requests of the last 24 hours
  milos_shop.ops.log_scan:
    container: milos-shop
  register: logs

- name: Report only, for a run report
  milos_shop.ops.log_scan:
    since: 24h
    max_errors: 10
    fail_on_alert: false
"""

RETURN = r"""
ok:
  description: Whether no count is over its threshold.
  returned: always
  type: bool
msg:
  description: One line that says what was found.
  returned: always
  type: str
  sample: "3 5xx responses (threshold 0); most frequent: GET /api/services 500 (3)"
alerts:
  description: One entry per count over its threshold, with C(kind) (C(errors), C(5xx) or C(slow)), C(message) and C(value).
  returned: always
  type: list
  elements: dict
lines:
  description: Lines read in the window.
  returned: always
  type: int
requests:
  description: Request lines in the guide's format.
  returned: always
  type: int
unparsed_lines:
  description: Lines that are neither requests nor carry a level.
  returned: always
  type: int
error_lines:
  description: Error-level lines.
  returned: always
  type: int
warn_lines:
  description: Warning-level lines.
  returned: always
  type: int
status_4xx:
  description: Requests answered with a 4xx status.
  returned: always
  type: int
status_5xx:
  description: Requests answered with a 5xx status.
  returned: always
  type: int
slow_requests:
  description: Requests slower than O(slow_threshold_ms).
  returned: always
  type: int
max_latency_ms:
  description: The slowest request's duration in milliseconds; null without requests.
  returned: always
  type: float
slow_threshold_ms:
  description: The O(slow_threshold_ms) the requests were measured against.
  returned: always
  type: int
first_line_at:
  description: Docker time stamp of the first line in the window; null without lines.
  returned: always
  type: str
last_line_at:
  description: Docker time stamp of the last line in the window; null without lines.
  returned: always
  type: str
distinct_error_signatures:
  description: How many different error signatures were seen (up to 5000; the rest are counted in RV(signature_overflow)).
  returned: always
  type: int
signature_overflow:
  description: Lines whose signature came after 5000 others in the same table; they are grouped as C(<other signatures>).
  returned: always
  type: int
top_errors:
  description: The most frequent error signatures.
  returned: always
  type: list
  elements: dict
  contains:
    signature:
      description: The error message with its varying parts replaced.
      type: str
    count:
      description: Lines with this signature.
      type: int
    first_seen:
      description: Docker time stamp of the first such line.
      type: str
    last_seen:
      description: Docker time stamp of the last such line.
      type: str
    sample:
      description: One such line as logged.
      type: str
top_5xx:
  description: The most frequent 5xx requests (method, path without ids, status), like RV(top_errors).
  returned: always
  type: list
  elements: dict
top_slow:
  description: The most frequent slow requests, like RV(top_errors).
  returned: always
  type: list
  elements: dict
window:
  description: The window read, C(since) and C(until) in ISO 8601 UTC.
  returned: always
  type: dict
"""

import datetime
import os
import re
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.milos_shop.ops.plugins.module_utils._logscan import LogScan, alerts_for

try:
    import docker
    from docker.errors import DockerException, NotFound
    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR = None
except ImportError:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text):
    """Seconds in a window like 24h; ValueError for anything else."""
    match = re.match(r"^\s*(\d+)\s*([smhd])\s*$", text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError("since must be a positive number with a unit s, m, h or d (like 24h), got %r" % text)
    return int(match.group(1)) * UNITS[match.group(2)]


def _iso(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def argument_spec():
    return dict(
        container=dict(type="str", default="milos-shop"),
        since=dict(type="str", default="24h"),
        slow_threshold_ms=dict(type="int", default=5000),
        top=dict(type="int", default=5),
        max_errors=dict(type="int", default=0),
        max_5xx=dict(type="int", default=0),
        max_slow=dict(type="int", default=0),
        docker_host=dict(type="str"),
        fail_on_alert=dict(type="bool", default=True),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if not HAS_DOCKER:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    try:
        seconds = parse_window(params["since"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for name in ("slow_threshold_ms", "top", "max_errors", "max_5xx", "max_slow"):
        if params[name] < 0:
            module.fail_json(msg="%s must be 0 or more, got %r" % (name, params[name]))

    if not params["container"]:
        module.fail_json(msg="container must be the name or id of a container, got %r" % params["container"])

    until = time.time()
    since = max(until - seconds, 1.0)  # a window longer than the epoch reads the whole log
    window = {"since": _iso(since), "until": _iso(until)}
    scan = LogScan(slow_ms=params["slow_threshold_ms"])
    host = params["docker_host"] or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.APIClient(base_url=host, version="auto", timeout=120)
        # Fractional seconds: the daemon takes them, so the window is exact (an int would widen it by up to 1 s).
        chunks = client.logs(params["container"], stdout=True, stderr=True, stream=True, follow=False, timestamps=True,
                             since=round(since, 6), until=round(until, 6))
        scan.feed_chunks(chunks)
    except NotFound:
        module.fail_json(msg="container %r does not exist on %s" % (params["container"], host), window=window)
    except DockerException as exc:
        module.fail_json(msg="cannot read the logs of %r from the Docker daemon at %s: %s" % (params["container"], host, exc),
                         window=window)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="reading the logs of %r from %s failed unexpectedly: %s" % (params["container"], host, exc),
                         window=window, exception=traceback.format_exc())

    result = scan.result(top=params["top"])
    result["window"] = window
    result["alerts"] = alerts_for(result, params["max_errors"], params["max_5xx"], params["max_slow"])
    result["ok"] = not result["alerts"]
    if result["ok"]:
        result["msg"] = "%d lines since %s: %d errors, %d 5xx, %d slow requests" % (
            result["lines"], window["since"], result["error_lines"], result["status_5xx"], result["slow_requests"])
    else:
        result["msg"] = "; ".join(alert["message"] for alert in result["alerts"])
    result["changed"] = False
    if params["fail_on_alert"] and not result["ok"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
