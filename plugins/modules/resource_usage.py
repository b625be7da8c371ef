#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: resource_usage
short_description: Disk, memory and CPU use of the host and of the app container, against the guide's thresholds
version_added: 0.1.0
description:
  - Measures the use of the filesystems that hold O(paths) (the data and backup directories, and C(/)), the host's
    memory, the host's CPU sampled over O(cpu_interval) seconds, and the app container's CPU and memory from the Docker
    stats API (as C(docker stats) computes them).
  - Raises an alert for each figure over its threshold. The defaults are the guide's, disk more than 90 % used
    (less than 10 % free), memory and CPU more than 80 %.
  - A container that exists but is not running has no figures; that is an alert of its own (C(container_down)).
  - Replaces the guide's C(df -h), C(check-disk-space.sh), C(docker stats) and C(check-memory.sh).
  - Returns the checklist item RV(item) with id V(resources), for the host's and the container's CPU and memory (the
    filesystems are the V(disk) item of M(milos_shop.ops.disk_usage)). V(warn) when a CPU or memory figure is over its
    threshold or the container is not running; V(fail) when the figures cannot be read (no such container, no Docker
    daemon); V(pass) otherwise.
  - A missing container or an unreachable Docker daemon fails the task unless O(fail_on_alert=false); then RV(item)
    says so.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
  - milos_shop.ops._attributes.read_only
  - milos_shop.ops._checklist
  - milos_shop.ops._docker
requirements:
  - Linux (/proc) on the target
options:
  paths:
    description:
      - Paths whose filesystems are measured; paths on the same filesystem are reported once.
    type: list
    elements: path
    default: [/]
  cpu_interval:
    description:
      - Seconds over which the host CPU is sampled; V(0) skips the host CPU.
    type: float
    default: 1
  container:
    description:
      - Name of the app container whose CPU and memory are read; empty skips it.
    type: str
    default: milos-shop
  disk_threshold_percent:
    description:
      - Alert when a filesystem is more than this much used, in percent (0 to 100).
    type: int
    default: 90
  memory_threshold_percent:
    description:
      - Alert when the host's memory is more than this much used, in percent (0 to 100).
    type: int
    default: 80
  cpu_threshold_percent:
    description:
      - Alert when the host's CPU is busier than this over O(cpu_interval), in percent (0 to 100).
    type: int
    default: 80
  container_cpu_threshold_percent:
    description:
      - Alert when the container uses more CPU than this, in percent (0 or more; 100 is one full core).
    type: int
    default: 80
  container_memory_threshold_percent:
    description:
      - Alert when the container uses more than this share of its memory limit, in percent (0 to 100).
    type: int
    default: 80
  fail_on_alert:
    description:
      - Fail the task when any alert is raised, or the container's figures cannot be read. With V(false) the task
        succeeds and RV(ok) and RV(item) tell.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Resources of the shop against the guide's thresholds
  milos_shop.ops.resource_usage:
    paths:
      - /
      - /opt/milos-shop/data
      - /var/backups/milos-shop
    container: milos-shop
"""

RETURN = r"""
item:
  description:
    - The checklist item (id V(resources) unless O(item_id) is set); see the notes for its shape.
    - C(evidence) holds C(memory), C(cpu) and C(container) (as RV(memory), RV(cpu) and RV(container)) and C(alerts),
      the alerts other than V(disk).
  returned: always
  type: dict
  sample:
    id: resources
    title: CPU and memory (docker stats)
    status: pass
    summary: host memory 41.2% used, CPU 3.5% busy; container milos-shop CPU 0.4%, memory 12.1% of its limit
    evidence: {memory: {}, cpu: {}, container: {}, alerts: []}
    alerts: []
ok:
  description: Whether no figure is over its threshold.
  returned: always
  type: bool
msg:
  description: One line that says what is over its threshold, or the figures.
  returned: always
  type: str
alerts:
  description: One entry per figure over its threshold, with C(kind) (C(disk), C(memory), C(cpu), C(container_cpu),
    C(container_memory), or C(container_down) for a container that is not running), C(severity) (V(fail) for
    V(disk), V(warn) for the others), C(value), C(threshold) and C(message).
  returned: always
  type: list
  elements: dict
disks:
  description: One entry per filesystem, with C(paths), C(total_bytes), C(used_bytes), C(free_bytes) and C(used_percent).
  returned: always
  type: list
  elements: dict
memory:
  description: Host memory, C(total_bytes), C(available_bytes), C(used_percent).
  returned: always
  type: dict
cpu:
  description: Host CPU, C(used_percent) over C(interval_s), and C(cpus); null with O(cpu_interval=0).
  returned: always
  type: dict
container:
  description: The container's C(name), C(running), C(cpu_percent), C(memory_used_bytes), C(memory_limit_bytes),
    C(memory_percent), C(pids). The figures are 0 (and C(pids) null) when C(running) is false.
  returned: when O(container) is set
  type: dict
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.milos_shop.ops.plugins.module_utils import _docker
from ansible_collections.milos_shop.ops.plugins.module_utils._resources import (
    RESOURCES_ID,
    RESOURCES_TITLE,
    alerts_for,
    container_usage,
    cpu_usage,
    group_disks,
    judge_resources,
    memory_usage,
)


def argument_spec():
    spec = dict(
        paths=dict(type="list", elements="path", default=["/"]),
        cpu_interval=dict(type="float", default=1),
        container=dict(type="str", default="milos-shop"),
        disk_threshold_percent=dict(type="int", default=90),
        memory_threshold_percent=dict(type="int", default=80),
        cpu_threshold_percent=dict(type="int", default=80),
        container_cpu_threshold_percent=dict(type="int", default=80),
        container_memory_threshold_percent=dict(type="int", default=80),
        fail_on_alert=dict(type="bool", default=True),
        item_id=dict(type="str"),
        item_title=dict(type="str"),
    )
    spec.update(_docker.docker_argument_spec())
    return spec


PERCENT_OPTIONS = ("disk_threshold_percent", "memory_threshold_percent", "cpu_threshold_percent", "container_memory_threshold_percent")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    for name in PERCENT_OPTIONS:
        if not 0 <= params[name] <= 100:
            module.fail_json(msg="%s must be a percentage from 0 to 100, got %r" % (name, params[name]))
    if params["container_cpu_threshold_percent"] < 0:  # over 100 with more than one core
        module.fail_json(msg="container_cpu_threshold_percent must be 0 or more, got %r" % params["container_cpu_threshold_percent"])
    if params["cpu_interval"] < 0:
        module.fail_json(msg="cpu_interval must be 0 or more, got %r" % params["cpu_interval"])
    missing = [p for p in params["paths"] if not os.path.exists(p)]
    if missing:
        module.fail_json(msg="paths do not exist: %s" % ", ".join(repr(p) for p in missing))
    if params["container"]:
        _docker.require_docker(module)
    item_id = params["item_id"] or RESOURCES_ID
    title = params["item_title"] or RESOURCES_TITLE

    try:
        result = {"disks": group_disks(params["paths"]), "memory": memory_usage(), "cpu": None}
        if params["cpu_interval"] > 0:
            result["cpu"] = cpu_usage(params["cpu_interval"])
    except (OSError, ValueError, KeyError, IndexError) as exc:
        module.fail_json(msg="cannot read the host's disk, memory or CPU use: %s" % exc, exception=traceback.format_exc())
    thresholds = {
        "disk": params["disk_threshold_percent"],
        "memory": params["memory_threshold_percent"],
        "cpu": params["cpu_threshold_percent"],
        "container_cpu": params["container_cpu_threshold_percent"],
        "container_memory": params["container_memory_threshold_percent"],
    }
    if params["container"]:
        host = _docker.docker_host(params)
        error = None
        try:
            stats = _docker.api_client(host).stats(params["container"], stream=False)
        except _docker.NotFound:
            error = "container %r does not exist on %s" % (params["container"], host)
        except _docker.DockerException as exc:
            error = "cannot read the stats of %r from the Docker daemon at %s: %s" % (params["container"], host, exc)
        except Exception as exc:  # pylint: disable=broad-except
            module.fail_json(msg="reading the stats of %r from %s failed unexpectedly: %s" % (params["container"], host, exc),
                             exception=traceback.format_exc(), **result)
        if error:
            result["alerts"] = alerts_for(result, thresholds)
            result.update(ok=False, msg=error, changed=False, item=judge_resources(result, item_id, title, error=error))
            if params["fail_on_alert"]:
                module.fail_json(**result)
            module.exit_json(**result)
        result["container"] = dict(container_usage(stats), name=params["container"])

    result["alerts"] = alerts_for(result, thresholds)
    result["ok"] = not result["alerts"]
    if result["ok"]:
        parts = ["disk %s %.1f%%" % (",".join(d["paths"]), d["used_percent"]) for d in result["disks"]]
        parts.append("memory %.1f%%" % result["memory"]["used_percent"])
        if result["cpu"]:
            parts.append("CPU %.1f%%" % result["cpu"]["used_percent"])
        container = result.get("container")
        if container:  # running: a stopped one is an alert
            parts.append("%s CPU %.1f%% memory %.1f%%" % (params["container"], container["cpu_percent"], container["memory_percent"]))
        result["msg"] = "; ".join(parts)
    else:
        result["msg"] = "; ".join(alert["message"] for alert in result["alerts"])
    result["item"] = judge_resources(result, item_id, title)
    result["changed"] = False
    if params["fail_on_alert"] and not result["ok"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
