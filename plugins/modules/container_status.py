#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: container_status
short_description: Judge the app container's state, Docker health, restarts and uptime as one checklist item
version_added: 0.2.0
description:
  - Reads the app container with the Docker API (the equivalent of C(docker inspect)) and judges it, replacing the
    guide's C(docker-compose ps).
  - Returns the checklist item RV(item) with id V(containers). It is V(fail) when the container does not exist, is not
    running, is restarting, is V(unhealthy) by its Docker health check, or is in a restart loop (O(restart_loop_count)
    restarts or more while up less than O(restart_window) since its last start; a container that is not running counts
    as up 0 s); V(warn) while its health check is still V(starting); V(pass) otherwise.
  - Never returns the container's environment, command line or labels (the environment holds the app's secrets).
  - With O(database_path), also finds where the database is on the host from the container's mounts
    (RV(database_host_path)).
  - A problem found (a missing or stopped container, an unreachable Docker daemon) is reported in RV(item) and never
    fails the task; only options the module cannot work with do.
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
      - Name or id of the app container.
    type: str
    default: milos-shop
    aliases: [name]
  restart_loop_count:
    description:
      - Restarts (Docker's C(RestartCount)) that make a restart loop when the container has been up less than
        O(restart_window) (1 or more).
    type: int
    default: 3
  restart_window:
    description:
      - A container up less than this since its last start, with O(restart_loop_count) restarts or more, is in a restart
        loop.
      - A duration such as V(10min), V(1h) or V(90s), or a number of seconds (V(600)). The unit V(m) is refused (write
        V(min) for minutes).
    type: str
    default: 10min
  database_path:
    description:
      - Path of the database inside the container, for example V(/app/data/milos_shop.db).
      - When set, RV(database_host_path) is its path on the host, found from the mount whose destination is the file
        itself, else its directory (or the nearest parent directory).
    type: str
"""

EXAMPLES = r"""
- name: Judge the app container
  milos_shop.ops.container_status:
    container: milos-shop
  register: containers

- name: Find the live database on the host from the container's mounts
  milos_shop.ops.container_status:
    container: milos-shop
    database_path: /app/data/milos_shop.db
  register: app

- name: Use it
  ansible.builtin.debug:
    msg: "The database is {{ app.database_host_path }}"
  when: app.database_host_path is not none
"""

RETURN = r"""
item:
  description:
    - The checklist item (id V(containers) unless O(item_id) is set); see the notes for its shape.
    - "C(evidence): C(exists), C(status) (Docker's state, V(missing) when there is no container), C(health)
      (V(healthy), V(unhealthy), V(starting) or V(none)), C(restart_count), C(restart_loop), C(uptime_s) (0 when not
      running), C(started_at), C(image), C(restart_loop_count) and C(restart_window_s)."
    - C(alerts) kinds, V(fail) unless noted, V(missing), V(not_running), V(restarting), V(restart_loop), V(unhealthy),
      V(starting) (V(warn)) and V(check_error) (the state could not be read).
  returned: always
  type: dict
  sample:
    id: containers
    title: Containers up (docker-compose ps)
    status: pass
    summary: container milos-shop is running, health healthy, 0 restarts, up 3605 s
    evidence: {exists: true, status: running, health: healthy, restart_count: 0, restart_loop: false, uptime_s: 3605,
               started_at: "2026-11-28T09:00:00.123456789Z", image: "milos-shop:latest", restart_loop_count: 3,
               restart_window_s: 600}
    alerts: []
container:
  description:
    - What was read of the container (never its environment), null when it could not be read.
    - C(exists), C(name), C(id), C(status), C(running), C(restarting), C(health), C(restart_count), C(started_at),
      C(finished_at), C(exit_code), C(oom_killed), C(image) and C(mounts) (each with C(type), C(source),
      C(destination) and C(rw)).
  returned: always
  type: dict
database_host_path:
  description: The database's path on the host, with O(database_path); null when it cannot be found (see
    RV(database_host_path_error)) or without O(database_path).
  returned: always
  type: str
  sample: /opt/milos-shop/data/milos_shop.db
database_host_path_error:
  description: Why RV(database_host_path) is null with O(database_path) set; null otherwise.
  returned: always
  type: str
  sample: "container milos-shop mounts nothing at /app/data or above it (it mounts /app/backups): the database is not on the host"
database_mount:
  description: The mount RV(database_host_path) was found from (C(type), C(source), C(destination), C(rw)); null when none.
  returned: always
  type: dict
"""

import datetime
import posixpath
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.milos_shop.ops.plugins.module_utils import _docker
from ansible_collections.milos_shop.ops.plugins.module_utils._container import (
    ITEM_ID,
    ITEM_TITLE,
    database_host_path,
    error_result,
    facts_of,
    judge,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._duration import DurationError, parse_seconds


def argument_spec():
    spec = dict(
        container=dict(type="str", default="milos-shop", aliases=["name"]),
        restart_loop_count=dict(type="int", default=3),
        restart_window=dict(type="str", default="10min"),
        database_path=dict(type="str"),
        item_id=dict(type="str"),
        item_title=dict(type="str"),
    )
    spec.update(_docker.docker_argument_spec())
    return spec


def check_params(params):
    """(restart window in seconds); ValueError naming the option for values the check cannot work with."""
    if not params["container"]:
        raise ValueError("container must be the name or id of a container, got %r" % (params["container"],))
    if params["restart_loop_count"] < 1:
        raise ValueError("restart_loop_count must be 1 or more, got %r" % (params["restart_loop_count"],))
    try:
        window = parse_seconds(params["restart_window"], "restart_window")
    except DurationError as exc:
        raise ValueError(str(exc))
    path = params["database_path"]
    if path is not None and (not path.startswith("/") or posixpath.normpath(path) == "/"):
        raise ValueError("database_path must be an absolute path of a file inside the container, got %r" % (path,))
    return window


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        window = check_params(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    _docker.require_docker(module)
    name = params["container"]
    item_id = params["item_id"] or ITEM_ID
    title = params["item_title"] or ITEM_TITLE
    host = _docker.docker_host(params)
    result = dict(changed=False, container=None, database_host_path=None, database_host_path_error=None, database_mount=None)
    try:
        client = _docker.api_client(host)
        try:
            inspect = client.inspect_container(name)
        except _docker.NotFound:
            inspect = None
    except _docker.DockerException as exc:
        message = "the Docker daemon at %s: %s" % (host, exc)
        result["item"] = error_result(name, message, item_id, title)
        if params["database_path"]:
            result["database_host_path_error"] = "cannot read the mounts of container %s from %s" % (name, message)
        module.exit_json(**result)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="reading container %r from %s failed unexpectedly: %s" % (name, host, exc),
                         exception=traceback.format_exc())
    facts = facts_of(inspect, name)
    result["container"] = facts
    result["item"] = judge(facts, name, params["restart_loop_count"], window,
                           datetime.datetime.now(datetime.timezone.utc), item_id, title)
    if params["database_path"]:
        path, mount, error = database_host_path(facts, params["database_path"])
        result.update(database_host_path=path, database_mount=mount, database_host_path_error=error)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
