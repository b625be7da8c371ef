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
  - Returns the checklist item RV(item) with id V(logs). V(warn) when a count is over its threshold (O(max_errors),
    O(max_5xx), O(max_slow)); V(fail) when the logs cannot be read (no such container, no Docker daemon); V(pass)
    otherwise.
  - A missing container or an unreachable Docker daemon fails the task unless O(fail_on_alert=false); then RV(item)
    says so.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
  - milos_shop.ops._attributes.read_only
  - milos_shop.ops._checklist
  - milos_shop.ops._docker
options:
  container:
    description:
      - Name or id of the container whose logs are read.
    type: str
    default: milos-shop
  since:
    description:
      - The window, back from now, as a duration such as V(24h), V(90min), V(1d12h) or V(30s), or a number of seconds.
      - The unit V(m) is refused (write V(min) for minutes), as everywhere in the collection.
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
  fail_on_alert:
    description:
      - Fail the task when any alert is raised, or the logs cannot be read. With V(false) the task succeeds and RV(ok)
        and RV(item) tell.
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
item:
  description:
    - The checklist item (id V(logs) unless O(item_id) is set); see the notes for its shape.
    - C(evidence) holds C(lines), C(error_lines), C(status_5xx), C(slow_requests), C(unparsed_lines), C(top_errors),
      C(top_5xx), C(top_slow), C(alerts) and C(window), as the return values of the same names.
  returned: always
  type: dict
  sample:
    id: logs
    title: Errors in the last 24 h (docker-compose logs | grep -i error)
    status: warn
    summary: "3 5xx responses (threshold 0); most frequent: GET /api/services 500 (3)"
    evidence: {lines: 1200, error_lines: 0, status_5xx: 3, slow_requests: 0, unparsed_lines: 0}
    alerts: [{kind: 5xx, severity: warn, value: 3, threshold: 0,
              message: "3 5xx responses (threshold 0); most frequent: GET /api/services 500 (3)"}]
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
  description: One entry per count over its threshold, with C(kind) (C(errors), C(5xx) or C(slow)), C(severity)
    (V(warn)), C(value), C(threshold) and C(message).
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
import time
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.milos_shop.ops.plugins.module_utils import _docker
from ansible_collections.milos_shop.ops.plugins.module_utils._duration import DurationError, parse_seconds
from ansible_collections.milos_shop.ops.plugins.module_utils._logscan import (
    ITEM_ID,
    LogScan,
    error_item,
    finish,
    item_title,
    judge,
)


def parse_window(text):
    """Seconds in a window like 24h or 90min; ValueError (naming the option) for anything else."""
    try:
        return parse_seconds(text, "since")
    except DurationError as exc:
        raise ValueError(str(exc))


def _iso(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat()


def argument_spec():
    spec = dict(
        container=dict(type="str", default="milos-shop"),
        since=dict(type="str", default="24h"),
        slow_threshold_ms=dict(type="int", default=5000),
        top=dict(type="int", default=5),
        max_errors=dict(type="int", default=0),
        max_5xx=dict(type="int", default=0),
        max_slow=dict(type="int", default=0),
        fail_on_alert=dict(type="bool", default=True),
        item_id=dict(type="str"),
        item_title=dict(type="str"),
    )
    spec.update(_docker.docker_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    _docker.require_docker(module)
    try:
        seconds = parse_window(params["since"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    for name in ("slow_threshold_ms", "top", "max_errors", "max_5xx", "max_slow"):
        if params[name] < 0:
            module.fail_json(msg="%s must be 0 or more, got %r" % (name, params[name]))

    if not params["container"]:
        module.fail_json(msg="container must be the name or id of a container, got %r" % params["container"])
    item_id = params["item_id"] or ITEM_ID
    title = params["item_title"] or item_title(params["since"])

    until = time.time()
    since = max(until - seconds, 1.0)  # a window longer than the epoch reads the whole log
    window = {"since": _iso(since), "until": _iso(until)}
    scan = LogScan(slow_ms=params["slow_threshold_ms"])
    host = _docker.docker_host(params)
    error = None
    try:
        client = _docker.api_client(host, timeout=120)
        # Fractional seconds: the daemon takes them, so the window is exact (an int would widen it by up to 1 s).
        chunks = client.logs(params["container"], stdout=True, stderr=True, stream=True, follow=False, timestamps=True,
                             since=round(since, 6), until=round(until, 6))
        scan.feed_chunks(chunks)
    except _docker.NotFound:
        error = "container %r does not exist on %s" % (params["container"], host)
    except _docker.DockerException as exc:
        error = "cannot read the logs of %r from the Docker daemon at %s: %s" % (params["container"], host, exc)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="reading the logs of %r from %s failed unexpectedly: %s" % (params["container"], host, exc),
                         window=window, exception=traceback.format_exc())
    if error:
        result = dict(msg=error, window=window, ok=False, changed=False, item=error_item(error, window, item_id, title))
        if params["fail_on_alert"]:
            module.fail_json(**result)
        module.exit_json(**result)

    result = finish(scan.result(top=params["top"]), window, params["max_errors"], params["max_5xx"], params["max_slow"])
    result["item"] = judge(result, item_id, title)
    result["changed"] = False
    if params["fail_on_alert"] and not result["ok"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
