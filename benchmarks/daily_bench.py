#!/usr/bin/env python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Daily run benchmark: CPU-seconds per host, wall time, tasks and module calls of playbooks/daily.yml, BEFORE and AFTER.

One run measures two versions of the collection the way users run it
(`ansible-playbook playbooks/daily.yml`, local connection, one stand-in shop):

  BEFORE  --baseline-ref (default d9ce76d, the daily run before the issue 7 rewrite),
          exported with `git archive` into --workdir, with its own
          .cache/collections/ansible_collections/milos_shop/ops link on
          ANSIBLE_COLLECTIONS_PATH (milos_shop.ops.* is the old code) and an
          inventory with the old variable names, as its integration tests wrote it
  AFTER   the working tree (or --after-ref, exported the same way), with an
          inventory that sets both the old names and the milos_shop_* names

Both check the same stand-in (tests/helpers/standin.py: its own Compose project),
alerts off, daily_cpu_interval_s --cpu-interval. For each count of hosts in --hosts
(the same stand-in under N inventory host names, each with its own backup directory
and maintenance file, one report directory as on a control node), BEFORE and AFTER each get one counting run first (not timed:
-vvv and a counting callback; it is also the warm-up), then --runs timed runs,
BEFORE and AFTER alternating (BA, AB, BA ...). A timed run is a plain
ansible-playbook process: its CPU time is user+sys of it and every process it
waited for (os.wait4: controller, forks, module processes; not the Docker daemon
or the container). Medians are reported, with the ratio AFTER / BEFORE and the
goal of issue 7 (at most 6 CPU-seconds per host).

--full adds the older measurements of the working tree (pipelining on/off,
trivial-play baselines, each module call alone): several more minutes.

    python benchmarks/daily_bench.py                        # 4 minutes on a loaded 2-core machine; Docker, the stand-in image
    python benchmarks/daily_bench.py --hosts 1,3 --note "interim: ..."   # also 3 hosts: 10 minutes loaded
    python benchmarks/daily_bench.py --after-ref HEAD       # AFTER = the last commit, not the working tree
    python benchmarks/daily_bench.py --quick --results-dir /tmp/r   # no stand-in: the disk item only, seconds
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import _common  # noqa: E402  pylint: disable=wrong-import-position

NAME = "daily_bench"
ROOT = _common.ROOT
BIN = os.path.dirname(sys.executable)
HOST = "shop"
VARIANTS = collections.OrderedDict([
    ("default", None),  # as ansible.cfg says
    ("pipelining_on", "True"),
    ("pipelining_off", "False"),
])
# Actions that run on the controller only: no module is executed on the target.
CONTROLLER_ACTIONS = {
    "ansible.builtin.set_fact", "ansible.builtin.debug", "ansible.builtin.assert", "ansible.builtin.fail",
    "ansible.builtin.include_role", "ansible.builtin.include_tasks", "ansible.builtin.import_role",
    "ansible.builtin.import_tasks", "ansible.builtin.validate_argument_spec", "ansible.builtin.set_stats",
    "ansible.builtin.meta", "ansible.builtin.include_vars", "ansible.builtin.add_host",
    "ansible.builtin.group_by", "ansible.builtin.pause",
}
# Actions that template or copy a file from the controller: the remote side is a stat, then the copy module.
COPY_ACTIONS = {"ansible.builtin.template", "ansible.builtin.copy"}


def log(text):
    sys.stdout.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), text))
    sys.stdout.flush()


# -- running things ---------------------------------------------------------------------

def busy_seconds():
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            fields = handle.readline().split()
    except OSError:
        return None
    user, nice, system, dummy_idle, dummy_iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / float(os.sysconf("SC_CLK_TCK"))


def run_measured(argv, out_path, env=None, cwd=ROOT, timeout=900, others=None):
    """Run a command with its output in a file; return (exit code, wall s, CPU s of it and every child it waited for).

    With a list as others, append the cores that other processes kept busy meanwhile (machine busy time less ours, per second).
    """
    busy0 = busy_seconds()
    with open(out_path, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.005)
        wall = time.monotonic() - t0
    busy1 = busy_seconds()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    if others is not None and busy0 is not None and busy1 is not None and wall > 0:
        others.append(max(0.0, (busy1 - busy0 - cpu) / wall))
    return proc.returncode, wall, cpu


def ansible_env(pipelining=None, **extra):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    for key in ("ANSIBLE_PIPELINING", "ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_CONFIG"):
        env.pop(key, None)
    if pipelining is not None:
        env["ANSIBLE_PIPELINING"] = pipelining
    env.update(extra)
    return env


class Runner:
    """Runs playbooks and commands, keeps every run's figures and the last output of each kind."""

    def __init__(self, workdir, tree=ROOT, collections_path=None):
        self.workdir = workdir
        self.tree = tree
        self.collections_path = collections_path or os.path.join(tree, ".cache", "collections")
        self.outputs = os.path.join(workdir, "outputs")
        os.makedirs(self.outputs, exist_ok=True)

    def playbook(self, key, playbook, inventory, extra_args=(), pipelining=None, env_extra=None, check=True):
        out = os.path.join(self.outputs, key + ".out")
        argv = [os.path.join(BIN, "ansible-playbook"), playbook, "-i", inventory] + list(extra_args)
        others = []
        extra = dict(env_extra or {}, ANSIBLE_COLLECTIONS_PATH=self.collections_path)
        code, wall, cpu = run_measured(argv, out, env=ansible_env(pipelining, **extra), cwd=self.tree, others=others)
        if check and code != 0:
            with open(out, encoding="utf-8", errors="replace") as handle:
                raise RuntimeError("%s exited %d:\n%s" % (key, code, handle.read()[-6000:]))
        return dict(wall_s=wall, cpu_s=cpu, others_cores=others[0] if others else None, rc=code, output=out)


# -- the inventory and the playbooks --------------------------------------------------------

def shop_vars(args, standin, host_dir, names="both", report_dir=None):
    """Inventory variables of one host that checks the stand-in from this machine.

    names="old": the variable names of the baseline (as its tests/integration/receivers.py
    wrote them: daily_container, backup_container, daily_health_url, daily_data_dir,
    backup_dir, report_dir). names="both": those and the milos_shop_* names of the
    rewrite, set to the same values, so one inventory works before and after it lands.
    """
    backups = os.path.join(host_dir, "backups")
    reports = report_dir or os.path.join(host_dir, "reports")
    hv = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "backup_dir": backups,
        "report_dir": reports,
        # The machine is shared and busy: keep the host CPU alert out of a benchmark's run.
        "daily_cpu_threshold_percent": 100,
        "daily_cpu_interval_s": args.cpu_interval,
        "report_history_enabled": False,
        # Alerts off (they are off by default; said here so that a changed default cannot turn them on).
        "notify_webhook_enabled": False,
        "notify_email_enabled": False,
    }
    if standin is not None:
        container, url = standin.container, "%s/api/services" % standin.url
        project_dir, project, data, db = str(standin.project_dir), standin.project, str(standin.data_dir), str(standin.db_path)
    else:  # --quick: no stand-in; only the disk item runs (see QUICK_ARGS)
        container, url, project = "milos-bench-none", "http://127.0.0.1:9/api/services", "milos-bench-none"
        project_dir = host_dir
        data = os.path.join(host_dir, "data")
        db = os.path.join(data, "milos_shop.db")
        os.makedirs(data, exist_ok=True)
        hv["daily_backup_enabled"] = False
    hv.update({"daily_container": container, "backup_container": container, "daily_health_url": url, "daily_data_dir": data})
    if names == "both":
        hv.update({
            "milos_shop_project_dir": project_dir,
            "milos_shop_project_name": project,
            "milos_shop_service": "milos-shop",
            "milos_shop_container": container,
            "milos_shop_data_dir": data,
            "milos_shop_db_path": db,
            "milos_shop_container_db_path": "/app/data/milos_shop.db",
            "milos_shop_backup_dir": backups,
            "milos_shop_backup_prefix": "milos_shop_backup_",
            "milos_shop_health_url": url,
            "milos_shop_maintenance_file": os.path.join(host_dir, "maintenance.json"),
            "milos_shop_report_dir": reports,
        })
    return hv


def host_vars(args, standin, work):
    """The inventory of --full (the working tree): one host, both names."""
    return shop_vars(args, standin, work, "both")


# --quick has no stand-in: run only the disk item, without the always-tagged report and alert tasks
# (daily_items as an extra var, since the task that starts the list is tagged always).
QUICK_ARGS = ["--tags", "daily_disk", "--skip-tags", "always", "-e", '{"daily_items": []}']


def trivial_playbook(path, count, module="ansible.builtin.debug", gather_facts=False, hosts=HOST):
    tasks = []
    for index in range(count):
        if module == "ansible.builtin.debug":
            tasks.append({"name": "Task %d" % (index + 1), module: {"msg": "task %d" % (index + 1)}})
        else:
            tasks.append({"name": "Task %d" % (index + 1), module: {}})
    play = [{"name": "Baseline: %d x %s" % (count, module), "hosts": hosts, "gather_facts": gather_facts, "tasks": tasks}]
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    return path


# -- the instrumented run -------------------------------------------------------------------

def _stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_json_run(path):
    """Tasks of an ansible.posix.json run: name, action, status, duration, loop items with module arguments."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        text = handle.read()
    data = json.loads(text[text.index("{"):])
    tasks = []
    play_s = 0.0
    for play in data["plays"]:
        d = play["play"]["duration"]
        play_s += (_stamp(d["end"]) - _stamp(d["start"])).total_seconds()
        for task in play["tasks"]:
            t = task["task"]
            result = task["hosts"].get(HOST)
            if result is None:
                continue
            duration = (_stamp(t["duration"]["end"]) - _stamp(t["duration"]["start"])).total_seconds()
            items = result.get("results") if isinstance(result.get("results"), list) else None
            status = "skipped" if result.get("skipped") else ("failed" if result.get("failed") else
                                                              ("changed" if result.get("changed") else "ok"))
            entry = dict(name=t["name"], action=result.get("action"), status=status, duration_s=round(duration, 4),
                         items=[])
            for item in (items if items is not None else [result]):
                if not isinstance(item, dict) or item.get("skipped"):
                    continue
                entry["items"].append(dict(args=(item.get("invocation") or {}).get("module_args")))
            tasks.append(entry)
    return tasks, play_s


def module_path(action):
    """The importable module of an action (ns.coll.name)."""
    ns, coll, name = action.split(".")
    if (ns, coll) == ("ansible", "builtin"):
        return "ansible.modules." + name
    return "ansible_collections.%s.%s.plugins.modules.%s" % (ns, coll, name)


def _clean(args):
    return {k: v for k, v in (args or {}).items() if v is not None and not k.startswith("_ansible")}


def replay_units(tasks, container, scratch):
    """What the run executed on the target, one unit per module call (a copy or template: a stat, then copy)."""
    units, not_replayed = [], []
    for index, task in enumerate(tasks):
        action = task["action"]
        if task["status"] == "skipped" or action in CONTROLLER_ACTIONS or action is None:
            continue
        for number, item in enumerate(task["items"]):
            args = item["args"]
            label = "%s%s" % (task["name"].split(" : ", 1)[-1], " [%d]" % (number + 1) if len(task["items"]) > 1 else "")
            if action in COPY_ACTIONS:
                if not args or not args.get("dest") or not os.path.exists(args["dest"]):
                    not_replayed.append(dict(task=label, action=action, why="its destination is unknown or gone"))
                    continue
                src = os.path.join(scratch, "src-%d-%d" % (index, number))
                shutil.copyfile(args["dest"], src)  # what the task wrote: the same size
                units.append(dict(task=label, action=action, kind="copy", task_index=index, modules=2,
                                  stat={"path": args["dest"], "follow": False, "get_checksum": True, "checksum_algorithm": "sha1"},
                                  src=src, mode=args.get("mode") or "0640", scratch=scratch))
                continue
            if args is None:
                if action == "community.docker.docker_container_info":
                    args = {"name": container}  # no_log: the run hides its arguments
                else:
                    not_replayed.append(dict(task=label, action=action, why="no_log hides its arguments"))
                    continue
            units.append(dict(task=label, action=action, kind="module", task_index=index, modules=1, args=_clean(args)))
    return units, not_replayed


class Replayer:
    """Runs one unit alone: with python -m (args in a file) or ansible localhost -m; restores the backup
    directory first, so that every call finds what the instrumented run left."""

    def __init__(self, workdir, backup_dir, snapshot, collections_path):
        self.tmp = os.path.join(workdir, "replay")
        os.makedirs(self.tmp, exist_ok=True)
        self.backup_dir = backup_dir
        self.snapshot = snapshot
        self.env = dict(os.environ, PYTHONPATH=collections_path)
        self.count = 0

    def restore(self):
        if self.snapshot is None:
            return
        shutil.rmtree(self.backup_dir, ignore_errors=True)
        shutil.copytree(self.snapshot, self.backup_dir)

    def _python_m(self, action, args):
        self.count += 1
        path = os.path.join(self.tmp, "args-%d.json" % self.count)
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, handle)
        out = os.path.join(self.tmp, "out-%d.json" % self.count)
        code, wall, cpu = run_measured([sys.executable, "-m", module_path(action), path], out, env=self.env)
        with open(out, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        failed = code != 0 or '"failed": true' in text
        return wall, cpu, (text[-500:] if failed else None)

    def python_m(self, unit):
        """Seconds (wall, CPU) of the unit's module process(es), and an error if one failed."""
        self.restore()
        if unit["kind"] == "copy":
            w1, c1, e1 = self._python_m("ansible.builtin.stat", unit["stat"])
            # The copy module moves its src (Ansible's temporary copy) into place: give it a fresh one.
            tag = uuid.uuid4().hex[:8]
            src = os.path.join(unit["scratch"], "tmp-src-" + tag)
            shutil.copyfile(unit["src"], src)
            dest = os.path.join(unit["scratch"], "dest-" + tag)
            w2, c2, e2 = self._python_m("ansible.builtin.copy", {"src": src, "dest": dest, "mode": unit["mode"]})
            return w1 + w2, c1 + c2, e1 or e2
        return self._python_m(unit["action"], unit["args"])

    def ping(self):
        wall, cpu, error = self._python_m("ansible.builtin.ping", {})
        if error:
            raise RuntimeError("python -m ansible.modules.ping failed: %s" % error)
        return wall, cpu

    def adhoc_ping(self):
        wall, cpu, error = self.adhoc("ansible.builtin.ping", {})
        if error:
            raise RuntimeError("ansible localhost -m ping failed: %s" % error)
        return wall, cpu

    def adhoc(self, action, args, pipelining=None):
        self.count += 1
        out = os.path.join(self.tmp, "adhoc-%d.out" % self.count)
        argv = [os.path.join(BIN, "ansible"), "localhost", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
                "-m", action] + (["-a", json.dumps(args)] if args else [])  # "{}" would be raw params
        code, wall, cpu = run_measured(argv, out, env=ansible_env(pipelining, ANSIBLE_DEPRECATION_WARNINGS="False"))
        if code != 0:
            with open(out, encoding="utf-8", errors="replace") as handle:
                return wall, cpu, handle.read()[-500:]
        return wall, cpu, None

    def adhoc_unit(self, unit):
        self.restore()
        if unit["kind"] == "copy":
            dest = os.path.join(unit["scratch"], "dest-%s" % uuid.uuid4().hex[:8])
            return self.adhoc("ansible.builtin.copy", {"src": unit["src"], "dest": dest, "mode": unit["mode"]})
        return self.adhoc(unit["action"], unit["args"])


def count_exec_ops(pipelining):
    """EXEC and PUT operations of one ping through the local connection (-vvv): 1 when pipelined."""
    argv = [os.path.join(BIN, "ansible"), "localhost", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable,
            "-m", "ansible.builtin.ping", "-vvv"]
    res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=ansible_env(pipelining), check=False)
    return len(re.findall(r"^<[^>]+> (?:EXEC|PUT) ", res.stdout, re.MULTILINE))


# -- BEFORE and AFTER: CPU-seconds per host, tasks and module calls --------------------------

GOAL_CPU_PER_HOST_S = 6.0
SIDES = ("before", "after")
COUNT_FILE_ENV = "MILOS_BENCH_COUNT_FILE"
# A callback of the bench's own (aggregate, enabled only in the counting runs): one record per task result and host.
COUNT_CALLBACK = '''
from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: milos_bench_count
type: aggregate
short_description: daily_bench.py's counting of task results per host
description: [One record per task result and host (action, status, loop items), and the recap, into a JSON file.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "milos_bench_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.records = []
        self.items = {}

    @staticmethod
    def _action(task):
        try:
            action = task.resolved_action
        except Exception:  # pylint: disable=broad-except
            action = None
        action = action or task.action
        return action if "." in action else "ansible.builtin." + action

    def _add(self, result, status):
        task, data = result._task, result._result
        key = (result._host.get_name(), task._uuid)
        self.records.append(dict(host=result._host.get_name(), task=task.get_name(), action=self._action(task),
                                 status=status, changed=bool(data.get("changed")), loop=bool(task.loop),
                                 items=self.items.pop(key, None), path=task.get_path()))

    def _item(self, result, status):
        key = (result._host.get_name(), result._task._uuid)
        self.items.setdefault(key, {}).setdefault(status, 0)
        self.items[key][status] += 1

    def v2_runner_on_ok(self, result):
        self._add(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._add(result, "failed_ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result):
        self._add(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._add(result, "unreachable")

    def v2_runner_item_on_ok(self, result):
        self._item(result, "ok")

    def v2_runner_item_on_failed(self, result):
        self._item(result, "failed")

    def v2_runner_item_on_skipped(self, result):
        self._item(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        recap = {host: stats.summarize(host) for host in sorted(stats.processed)}
        with open(os.environ["MILOS_BENCH_COUNT_FILE"], "w", encoding="utf-8") as handle:
            json.dump({"records": self.records, "recap": recap}, handle, indent=1)
'''
MODULE_LINE = re.compile(r"^Using module file (\S+)", re.MULTILINE)


def git(*argv):
    res = subprocess.run(["git", "-C", ROOT] + list(argv), capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit("git %s: %s" % (" ".join(argv), res.stderr.strip()))
    return res.stdout.strip()


def link_collection(tree):
    """tree/.cache/collections/ansible_collections/milos_shop/ops -> tree (as ./scripts/setup does); the collections dir."""
    collections = os.path.join(tree, ".cache", "collections")
    link = os.path.join(collections, "ansible_collections", "milos_shop", "ops")
    if not os.path.lexists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(tree, os.path.dirname(link)), link)
    return collections


def export_tree(ref, dest):
    """The files of a commit in dest (git archive: nothing in the repository changes); the full commit id."""
    commit = git("rev-parse", "--verify", "--quiet", ref + "^{commit}")
    os.makedirs(dest)
    archive = subprocess.Popen(["git", "-C", ROOT, "archive", "--format=tar", commit], stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, check=True)
    archive.stdout.close()
    if archive.wait() != 0:
        raise SystemExit("git archive %s failed" % commit)
    return commit


def prepare_sides(args, work):
    """BEFORE (the baseline ref, old names) and AFTER (the working tree or --after-ref, both names)."""
    sides = collections.OrderedDict()
    tree = os.path.join(work, "tree-before")
    commit = export_tree(args.baseline_ref, tree)
    sides["before"] = dict(name="before", ref=args.baseline_ref, commit=commit, tree=tree, names="old",
                           collections=link_collection(tree), uncommitted=[])
    if args.after_ref:
        tree = os.path.join(work, "tree-after")
        commit = export_tree(args.after_ref, tree)
        sides["after"] = dict(name="after", ref=args.after_ref, commit=commit, tree=tree, names="both",
                              collections=link_collection(tree), uncommitted=[])
    else:
        code = _common.code_version("roles", "playbooks", "plugins", "meta")
        sides["after"] = dict(name="after", ref="working tree", commit=git("rev-parse", "HEAD"), tree=ROOT, names="both",
                              collections=link_collection(ROOT), uncommitted=code["uncommitted"])
    return sides


def host_names(count):
    return [HOST] if count == 1 else ["%s%d" % (HOST, i + 1) for i in range(count)]


def write_side_inventory(args, standin, side, count, work):
    """The same stand-in under `count` host names, each with its own backup directory and maintenance file.

    The report directory is one per inventory, as on a control node (each host's report is in
    daily/<host>/ of it): the notify role keeps its state in it, created once per run.
    """
    base = os.path.join(work, "%s-n%d" % (side["name"], count))
    hosts = collections.OrderedDict()
    for name in host_names(count):
        host_dir = os.path.join(base, name)
        os.makedirs(host_dir, exist_ok=True)
        hosts[name] = shop_vars(args, standin, host_dir, side["names"], report_dir=os.path.join(base, "reports"))
    path = os.path.join(base, "hosts.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"milos_shop": {"hosts": dict(hosts)}}, handle, sort_keys=False)
    return dict(path=path, base=base, hosts=hosts)


def run_timed(argv, out_path, env, cwd, timeout=900):
    """One process, its output in a file: exit code, wall s, user and sys s of it and every child it waited for (wait4),
    and the cores other processes kept busy meanwhile (/proc/stat less ours)."""
    busy0 = busy_seconds()
    started = time.time()
    with open(out_path, "wb") as out:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            dummy_pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
    busy1 = busy_seconds()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    others = max(0.0, (busy1 - busy0 - cpu) / wall) if busy0 is not None and busy1 is not None and wall > 0 else None
    return dict(rc=proc.returncode, started=round(started, 3), wall_s=round(wall, 3), cpu_s=round(cpu, 3), user_s=round(usage.ru_utime, 3),
                sys_s=round(usage.ru_stime, 3), others_cores=round(others, 2) if others is not None else None)


def side_env(side, **extra):
    return ansible_env(ANSIBLE_COLLECTIONS_PATH=side["collections"], **extra)


def daily_argv(inventory, args, *extra):
    return [os.path.join(BIN, "ansible-playbook"), "playbooks/daily.yml", "-i", inventory] + (QUICK_ARGS if args.quick else []) + list(extra)


def _tail(path, size=6000):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()[-size:]


def module_name(path, tree):
    """ns.coll.name of a module file named in a -vvv line."""
    real = os.path.realpath(path)
    name = os.path.splitext(os.path.basename(real))[0]
    parts = path.split(os.sep)
    if "ansible_collections" in parts:
        i = len(parts) - 1 - parts[::-1].index("ansible_collections")
        return "%s.%s.%s" % (parts[i + 1], parts[i + 2], name)
    if "%sansible%smodules%s" % (os.sep, os.sep, os.sep) in real:
        return "ansible.builtin." + name
    if real.startswith(os.path.realpath(tree) + os.sep):
        return "milos_shop.ops." + name
    return real


def count_run(args, side, inventory, key, outputs, cbdir):
    """The counting run (also the warm-up): -vvv and the counting callback; not timed."""
    out = os.path.join(outputs, key + "-count.out")
    count_file = os.path.join(outputs, key + "-count.json")
    env = side_env(side, ANSIBLE_CALLBACK_PLUGINS=cbdir, ANSIBLE_CALLBACKS_ENABLED="milos_bench_count",
                   **{COUNT_FILE_ENV: count_file})
    res = run_timed(daily_argv(inventory["path"], args, "-vvv"), out, env, side["tree"])
    if res["rc"] != 0 and not args.quick and not reports_written(inventory, res["started"]):
        raise RuntimeError("%s: the counting run exited %d (%s). Its output ends:\n%s\nIf the working tree is in the middle "
                           "of an edit, retry later or give --after-ref HEAD." % (key, res["rc"], side["ref"], _tail(out)))
    try:
        with open(count_file, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise RuntimeError("%s: the counting callback wrote nothing (%s); the run's output ends:\n%s" % (key, exc, _tail(out)))
    with open(out, encoding="utf-8", errors="replace") as handle:
        modules = [module_name(p, side["tree"]) for p in MODULE_LINE.findall(handle.read())]
    return summarise_counts(data, modules, list(inventory["hosts"]), side["tree"], res)


def summarise_counts(data, modules, hosts, tree, res):
    records = data["records"]
    n = len(hosts)
    ran = [r for r in records if r["status"] != "skipped"]
    controller = [r for r in ran if r["action"] in CONTROLLER_ACTIONS]
    module_tasks = [r for r in ran if r["action"] not in CONTROLLER_ACTIONS]
    # Which code ran: every task file should be inside the side's tree (through its ansible_collections link).
    real_tree = os.path.realpath(tree) + os.sep
    outside = sorted({r["path"].rsplit(":", 1)[0] for r in records if r.get("path")
                      and not os.path.realpath(r["path"].rsplit(":", 1)[0]).startswith(real_tree)
                      and "/playbooks/" not in r["path"]})
    recap = data["recap"]
    keys = ("ok", "changed", "failures", "skipped", "unreachable", "rescued", "ignored")
    recap_total = {k: sum(v.get(k, 0) for v in recap.values()) for k in keys}
    per_host = collections.OrderedDict()
    for host in hosts:
        mine = [r for r in records if r["host"] == host]
        per_host[host] = dict(task_results=len(mine), skipped=sum(1 for r in mine if r["status"] == "skipped"),
                              failed=sum(1 for r in mine if r["status"].startswith("failed")),
                              module_tasks=sum(1 for r in mine if r["status"] != "skipped" and r["action"] not in CONTROLLER_ACTIONS),
                              recap=recap.get(host))
    return collections.OrderedDict([
        ("hosts", n),
        ("task_results", len(records)),
        ("task_results_per_host", round(len(records) / float(n), 2)),
        ("skipped", len(records) - len(ran)),
        ("not_skipped_per_host", round(len(ran) / float(n), 2)),
        ("controller_only", len(controller)),
        ("module_tasks", len(module_tasks)),
        ("module_tasks_per_host", round(len(module_tasks) / float(n), 2)),
        ("module_executions", len(modules)),
        ("module_executions_per_host", round(len(modules) / float(n), 2)),
        ("recap_total", recap_total),
        ("recap_tasks_per_host", round((recap_total["ok"] + recap_total["failures"] + recap_total["skipped"]
                                        + recap_total["unreachable"]) / float(n), 2)),
        ("module_executions_by_module", dict(collections.Counter(modules).most_common())),
        ("module_tasks_by_action", dict(collections.Counter(r["action"] for r in module_tasks).most_common())),
        ("controller_only_by_action", dict(collections.Counter(r["action"] for r in controller).most_common())),
        ("per_host", per_host),
        ("task_files_outside_tree", outside),
        ("counting_run", res),
    ])


def reports_written(inventory, since):
    """Whether the run wrote every host's report (report_dir/daily/<host>/latest.json newer than its start)."""
    for host, hv in inventory["hosts"].items():
        try:
            if os.stat(os.path.join(hv["report_dir"], "daily", host, "latest.json")).st_mtime < since - 1:
                return False
        except OSError:
            return False
    return True


def host_statuses(inventory):
    """Each host's report status after a run (report_dir/daily/<host>/latest.json), None where there is none."""
    statuses = []
    for host, hv in inventory["hosts"].items():
        path = os.path.join(hv["report_dir"], "daily", host, "latest.json")
        try:
            with open(path, encoding="utf-8") as handle:
                statuses.append(json.load(handle).get("status"))
        except (OSError, ValueError):
            statuses.append(None)
    return statuses


def compare(args, work, standin):
    """Counting runs, then --runs timed rounds, BEFORE and AFTER alternating, for each count of hosts."""
    outputs = os.path.join(work, "outputs")
    cbdir = os.path.join(work, "callback_plugins")
    os.makedirs(outputs, exist_ok=True)
    os.makedirs(cbdir, exist_ok=True)
    with open(os.path.join(cbdir, "milos_bench_count.py"), "w", encoding="utf-8") as handle:
        handle.write(COUNT_CALLBACK)
    sides = prepare_sides(args, work)
    for side in sides.values():
        dirty = "; uncommitted: %s" % ", ".join(side["uncommitted"]) if side["uncommitted"] else ""
        log("%s: %s (%s) in %s%s" % (side["name"].upper(), side["ref"], side["commit"][:9], side["tree"], dirty))
    inventories = {(s, n): write_side_inventory(args, standin, sides[s], n, work) for s in SIDES for n in args.hosts}
    # The floor: a play of one debug task over the same inventory, run like the daily run from AFTER's tree (Ansible's
    # start-up, inventory and collection loading: what no rewrite of the roles can take away).
    floor = trivial_playbook(os.path.join(work, "floor.yml"), 1, hosts="milos_shop")
    counts, runs = {}, collections.defaultdict(list)
    for n in args.hosts:
        for s in SIDES:
            key = "%s-n%d" % (s, n)
            counts[key] = count_run(args, sides[s], inventories[(s, n)], key, outputs, cbdir)
            c = counts[key]
            log("%s: counting run %.1f s; per host %s task results (%d skipped), %s module tasks, %s module executions" % (
                key, c["counting_run"]["wall_s"], c["task_results_per_host"], c["skipped"] // n, c["module_tasks_per_host"],
                c["module_executions_per_host"]))
    for rnd in range(args.runs):
        order = SIDES if rnd % 2 == 0 else SIDES[::-1]
        for n in args.hosts:
            for s in order:
                key = "%s-n%d" % (s, n)
                out = os.path.join(outputs, "%s-run%d.out" % (key, rnd + 1))
                res = run_timed(daily_argv(inventories[(s, n)]["path"], args), out, side_env(sides[s]), sides[s]["tree"])
                # A run that went through to every host's report counts even when it exits non-zero (an item failed,
                # e.g. the container's health check timing out on a loaded machine): its report status says so.
                if res["rc"] != 0 and not args.quick and not reports_written(inventories[(s, n)], res["started"]):
                    raise RuntimeError("%s run %d exited %d; its output ends:\n%s" % (key, rnd + 1, res["rc"], _tail(out)))
                res["round"] = rnd + 1
                res["statuses"] = host_statuses(inventories[(s, n)]) if not args.quick else []
                runs[key].append(res)
            out = os.path.join(outputs, "floor-n%d-run%d.out" % (n, rnd + 1))
            argv = [os.path.join(BIN, "ansible-playbook"), floor, "-i", inventories[("after", n)]["path"]]
            res = run_timed(argv, out, side_env(sides["after"]), sides["after"]["tree"])
            if res["rc"] != 0:
                raise RuntimeError("the floor play exited %d; its output ends:\n%s" % (res["rc"], _tail(out)))
            res["round"], res["statuses"] = rnd + 1, []
            runs["floor-n%d" % n].append(res)
        log("round %d/%d (%s first): %s" % (rnd + 1, args.runs, order[0].upper(), ", ".join(
            "%s-n%d %.1f s CPU, %.1f s wall" % (s, n, runs["%s-n%d" % (s, n)][-1]["cpu_s"], runs["%s-n%d" % (s, n)][-1]["wall_s"])
            for n in args.hosts for s in SIDES + ("floor",))))
    return sides, inventories, counts, runs


def _m(values, digits=3):
    values = [v for v in values if v is not None]
    return round(_common.median(values), digits) if values else None


def summarise_compare(args, sides, inventories, counts, runs):
    table = collections.OrderedDict()
    for n in args.hosts:
        entry = collections.OrderedDict()
        for s in SIDES:
            key = "%s-n%d" % (s, n)
            rs, c = runs[key], counts[key]
            entry[s] = collections.OrderedDict([
                ("hosts", n),
                ("runs", len(rs)),
                ("cpu_s", _m(r["cpu_s"] for r in rs)),
                ("cpu_per_host_s", _m(r["cpu_s"] / n for r in rs)),
                ("user_s", _m(r["user_s"] for r in rs)),
                ("sys_s", _m(r["sys_s"] for r in rs)),
                ("wall_s", _m(r["wall_s"] for r in rs)),
                ("others_cores", _m((r["others_cores"] for r in rs), 2)),
                ("cpu_s_each", [r["cpu_s"] for r in rs]),
                ("wall_s_each", [r["wall_s"] for r in rs]),
                ("tasks_per_host", c["task_results_per_host"]),
                ("tasks_not_skipped_per_host", c["not_skipped_per_host"]),
                ("recap_tasks_per_host", c["recap_tasks_per_host"]),
                ("module_calls_per_host", c["module_executions_per_host"]),
                ("module_tasks_per_host", c["module_tasks_per_host"]),
                ("report_statuses", [r["statuses"] for r in rs]),
            ])
        fl = runs["floor-n%d" % n]
        entry["floor"] = collections.OrderedDict([
            ("what", "a play of one ansible.builtin.debug task, same inventory, AFTER's tree"), ("hosts", n), ("runs", len(fl)),
            ("cpu_s", _m(r["cpu_s"] for r in fl)), ("cpu_per_host_s", _m(r["cpu_s"] / n for r in fl)),
            ("wall_s", _m(r["wall_s"] for r in fl)), ("cpu_s_each", [r["cpu_s"] for r in fl])])
        b, a = entry["before"], entry["after"]
        entry["after_over_before"] = collections.OrderedDict(
            (k, _common.ratio(a[k], b[k])) for k in ("cpu_per_host_s", "wall_s", "tasks_per_host", "tasks_not_skipped_per_host",
                                                     "module_calls_per_host", "module_tasks_per_host"))
        entry["goal_met"] = a["cpu_per_host_s"] is not None and a["cpu_per_host_s"] <= GOAL_CPU_PER_HOST_S
        # Above the floor: what the roles cost beyond Ansible's start-up.
        entry["above_floor_per_host_s"] = collections.OrderedDict(
            (s, round(entry[s]["cpu_per_host_s"] - entry["floor"]["cpu_per_host_s"], 3)) for s in SIDES)
        above = entry["above_floor_per_host_s"]
        entry["after_over_before"]["above_floor_per_host"] = _common.ratio(above["after"], above["before"])
        table["%d" % n] = entry
    first = table["%d" % args.hosts[0]]
    ratios = collections.OrderedDict()
    for n, entry in table.items():
        for k, v in entry["after_over_before"].items():
            ratios["n%s_%s_after_over_before" % (n, k[:-2] if k.endswith("_s") else k)] = v
    goals = collections.OrderedDict([("cpu_per_host_s", "AFTER: at most %g CPU-seconds per host (issue 7, point 8), for every "
                                                        "count of hosts measured" % GOAL_CPU_PER_HOST_S)])
    verdicts = collections.OrderedDict([("cpu_per_host_goal_met", all(e["goal_met"] for e in table.values()))])
    verdicts.update(("cpu_per_host_goal_met_n%s" % n, e["goal_met"]) for n, e in table.items())
    if not args.quick:
        statuses = [st for e in table.values() for s in SIDES for sts in e[s]["report_statuses"] for st in sts]
        verdicts["every_run_reports_pass"] = all(st == "pass" for st in statuses) if statuses else None
    code = collections.OrderedDict((s, collections.OrderedDict([
        ("ref", sides[s]["ref"]), ("commit", sides[s]["commit"]), ("uncommitted", sides[s]["uncommitted"])])) for s in SIDES)
    inv = collections.OrderedDict()
    for s in SIDES:
        hv = dict(next(iter(inventories[(s, args.hosts[0])]["hosts"].values())))
        hv.pop("ansible_python_interpreter", None)
        inv[s] = hv
    return first, table, ratios, goals, verdicts, code, inv


# -- --full: the older measurements of the working tree -------------------------------------

def measure(args, info, work, standin, side):
    """The older measurements, of AFTER's tree (the working tree or --after-ref)."""
    runner = Runner(work, side["tree"], side["collections"])
    hv = host_vars(args, standin, work)
    inventory = os.path.join(work, "hosts.yml")
    with open(inventory, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"milos_shop": {"hosts": {HOST: hv}}}, handle)
    daily = os.path.join(side["tree"], "playbooks", "daily.yml")
    daily_args = QUICK_ARGS if args.quick else []
    variants = ["default"] if args.quick else list(VARIANTS)

    # Evidence of what pipelining changes on this connection.
    exec_ops = collections.OrderedDict((v, count_exec_ops(VARIANTS[v])) for v in variants if not args.quick)
    log("EXEC/PUT operations per module through the local connection: %s" % dict(exec_ops))

    if not args.quick:
        log("warm-up run (not counted)")
        runner.playbook("warmup", daily, inventory, daily_args)

    # The instrumented run: every task, its time and its module arguments.
    log("instrumented run (ansible.posix.json callback)")
    instrumented = runner.playbook("instrumented", daily, inventory, daily_args, check=not args.quick,
                                   env_extra={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    tasks, play_s = parse_json_run(instrumented["output"])
    # The backup directory as the instrumented run left it: every module call alone starts from it.
    snapshot = None
    if os.path.isdir(hv["backup_dir"]):
        snapshot = os.path.join(work, "backup-snapshot")
        shutil.copytree(hv["backup_dir"], snapshot)
    K = len(tasks)
    scratch = os.path.join(work, "scratch")
    os.makedirs(scratch, exist_ok=True)
    units, not_replayed = replay_units(tasks, hv["daily_container"], scratch)
    M = sum(u["modules"] for u in units)
    log("the daily run has %d tasks (%d skipped), %d module calls on the target" % (
        K, sum(1 for t in tasks if t["status"] == "skipped"), M))

    # Playbook runs, rotating the order each round.
    # --quick: the instrumented run stands for the default run, and no fact gathering.
    playbooks = collections.OrderedDict()
    for v in variants:
        playbooks["daily_" + v] = (daily, daily_args, VARIANTS[v])
    playbooks["debug_1"] = (trivial_playbook(os.path.join(work, "debug_1.yml"), 1), [], None)
    playbooks["debug_K"] = (trivial_playbook(os.path.join(work, "debug_K.yml"), max(K, 2)), [], None)
    playbooks["ping_M"] = (trivial_playbook(os.path.join(work, "ping_M.yml"), max(M, 2), "ansible.builtin.ping"), [], None)
    if not args.quick:
        playbooks["ping_M_pipelining_on"] = (playbooks["ping_M"][0], [], "True")
        playbooks["facts_on"] = (trivial_playbook(os.path.join(work, "facts_on.yml"), 1, gather_facts=True), [], None)
    else:
        del playbooks["daily_default"]
    keys = list(playbooks)
    runs = collections.OrderedDict((key, []) for key in keys)
    if args.quick:
        runs["daily_default"] = [instrumented]
    statuses = []
    for rnd in range(args.full_runs):
        order = keys[rnd % len(keys):] + keys[:rnd % len(keys)]
        for key in order:
            path, extra, pipelining = playbooks[key]
            res = runner.playbook(key, path, inventory, extra, pipelining=pipelining)
            runs[key].append(res)
            if key.startswith("daily_") and not args.quick:
                statuses.append(report_status(hv["report_dir"]))
        log("--full round %d/%d: %s" % (rnd + 1, args.full_runs, ", ".join("%s %.2f s" % (k, runs[k][-1]["wall_s"]) for k in keys)))

    # Each module call alone, each right after a ping of the same kind (paired: the load drifts).
    replayer = Replayer(work, hv["backup_dir"], snapshot, side["collections"])
    py = collections.defaultdict(list)
    py_errors = {}
    ping_py = []
    for rep in range(args.module_repeat):
        for i, unit in enumerate(units):
            ping_wall, ping_cpu = replayer.ping()
            ping_py.append((ping_wall, ping_cpu))
            wall, cpu, error = replayer.python_m(unit)
            py[i].append((wall, cpu, ping_wall))
            if error:
                py_errors[i] = error
    log("python -m: ping %.3f s, the %d calls %.2f s in all" % (
        _common.median([w for w, c in ping_py]), len(units), sum(_common.median([x[0] for x in py[i]]) for i in range(len(units)))))
    adhoc = collections.defaultdict(list)
    adhoc_errors = {}
    ping_adhoc = []
    for rep in range(args.adhoc_repeat):
        for i, unit in enumerate(units):
            ping_wall, ping_cpu = replayer.adhoc_ping()
            ping_adhoc.append((ping_wall, ping_cpu))
            wall, cpu, error = replayer.adhoc_unit(unit)
            adhoc[i].append((wall, cpu, ping_wall))
            if error:
                adhoc_errors[i] = error
    if args.adhoc_repeat:
        log("ansible -m: ping %.3f s" % _common.median([w for w, c in ping_adhoc]))
    replayer.restore()
    return summarise(args, info, hv, tasks, play_s, units, not_replayed, runs, statuses, exec_ops, py, py_errors, ping_py,
                     adhoc, adhoc_errors, ping_adhoc, instrumented)


def _med(values):
    return _common.median(list(values))


def _stats(items):
    wall = [item["wall_s"] for item in items]
    others = [item["others_cores"] for item in items if item.get("others_cores") is not None]
    return collections.OrderedDict([("runs", len(items)), ("wall_s", round(_med(wall), 3)), ("wall_s_all", [round(w, 3) for w in wall]),
                                    ("cpu_s", round(_med(item["cpu_s"] for item in items), 3)),
                                    ("others_cores", round(_med(others), 2) if others else None)])


def summarise(args, info, hv, tasks, play_s, units, not_replayed, runs, statuses, exec_ops, py, py_errors, ping_py,
              adhoc, adhoc_errors, ping_adhoc, instrumented):
    K = len(tasks)
    M = sum(u["modules"] for u in units)
    playbooks = collections.OrderedDict((key, _stats(items)) for key, items in runs.items())
    wall = {key: value["wall_s"] for key, value in playbooks.items()}
    ping_py_wall = _med(w for w, c in ping_py)
    ping_py_cpu = _med(c for w, c in ping_py)
    ping_adhoc_wall = _med(w for w, c in ping_adhoc) if ping_adhoc else None
    module_rows = []
    for i, unit in enumerate(units):
        u_wall = _med(x[0] for x in py[i])
        u_cpu = _med(x[1] for x in py[i])
        # beyond a ping: the median of the differences to the ping run just before (as many pings as module processes)
        beyond = _med(x[0] - unit["modules"] * x[2] for x in py[i])
        a_beyond = _med(x[0] - x[2] for x in adhoc[i]) if adhoc.get(i) else None
        row = collections.OrderedDict([
            ("task", unit["task"]), ("action", unit["action"]), ("module_calls", unit["modules"]),
            ("in_run_task_s", tasks[unit["task_index"]]["duration_s"]),
            ("python_m_s", round(u_wall, 4)), ("python_m_cpu_s", round(u_cpu, 4)),
            ("python_m_beyond_ping_s", round(max(0.0, beyond), 4)),
            ("adhoc_s", round(_med(x[0] for x in adhoc[i]), 4) if adhoc.get(i) else None),
            ("adhoc_beyond_ping_s", round(max(0.0, a_beyond), 4) if a_beyond is not None else None),
            ("error", py_errors.get(i) or adhoc_errors.get(i)),
        ])
        module_rows.append(row)
    module_s = sum(r["python_m_s"] for r in module_rows)
    module_cpu_s = sum(r["python_m_cpu_s"] for r in module_rows)
    module_work_s = sum(r["python_m_beyond_ping_s"] for r in module_rows)
    adhoc_work_s = sum(r["adhoc_beyond_ping_s"] for r in module_rows) if all(r["adhoc_s"] is not None for r in module_rows) and module_rows else None

    d = wall["daily_default"]
    d_cpu = playbooks["daily_default"]["cpu_s"]
    startup = wall["debug_1"]
    per_task = (wall["debug_K"] - startup) / (max(K, 2) - 1)  # debug_K has at least 2 tasks
    m_ping = max(M, 2)  # tasks in ping_M
    per_ping_task = (wall["ping_M"] - startup) / (m_ping - 1)
    per_module = per_ping_task - per_task if per_ping_task is not None and per_task is not None else None
    model = None
    if per_task is not None and per_module is not None:
        parts = collections.OrderedDict([
            ("startup_s", startup),
            ("tasks_s", (K - 1) * per_task),
            ("module_calls_s", M * per_module),
            ("module_work_s", module_work_s),
        ])
        parts["remainder_s"] = d - sum(parts.values())
        model = collections.OrderedDict((k, round(v, 3)) for k, v in parts.items())
        model["shares"] = collections.OrderedDict((k.replace("_s", "_share"), _common.ratio(v, d)) for k, v in parts.items())

    ratios = collections.OrderedDict([
        ("overhead_share", _common.ratio(d - module_s, d)),
        ("overhead_share_beyond_ping_work", _common.ratio(d - module_work_s, d)),
        ("overhead_share_adhoc_estimate", _common.ratio(d - adhoc_work_s, d) if adhoc_work_s is not None else None),
        ("module_time_over_wall", _common.ratio(module_s, d)),
        ("module_cpu_over_run_cpu", _common.ratio(module_cpu_s, d_cpu)),
        ("startup_over_wall", _common.ratio(startup, d)),
        ("debug_K_over_daily", _common.ratio(wall["debug_K"], d)),
        ("ping_M_over_daily", _common.ratio(wall["ping_M"], d)),
        ("facts_on_over_off", _common.ratio(wall["facts_on"], startup) if "facts_on" in wall else None),
        ("facts_saving_s", round(wall["facts_on"] - startup, 3) if "facts_on" in wall else None),
        ("facts_saving_over_daily", _common.ratio(wall["facts_on"] - startup, d) if "facts_on" in wall else None),
        ("per_task_s", round(per_task, 4) if per_task is not None else None),
        ("per_module_call_s", round(per_module, 4) if per_module is not None else None),
    ])
    if "daily_pipelining_on" in wall:
        on, off = wall["daily_pipelining_on"], wall["daily_pipelining_off"]
        ratios["pipelining_off_over_on"] = _common.ratio(off, on)
        ratios["default_over_pipelining_on"] = _common.ratio(d, on)
        ratios["default_over_pipelining_off"] = _common.ratio(d, off)
        ratios["pipelining_saving_s"] = round(off - on, 3)
        ratios["overhead_share_pipelining_on"] = _common.ratio(on - module_s, on)
        if "ping_M_pipelining_on" in wall and per_task is not None:
            ratios["per_module_call_pipelining_on_s"] = round((wall["ping_M_pipelining_on"] - startup) / (m_ping - 1) - per_task, 4)
            ratios["ping_M_off_over_on"] = _common.ratio(wall["ping_M"], wall["ping_M_pipelining_on"])
    daily_ok = all(s == "pass" for s in statuses) if statuses else None
    goals = collections.OrderedDict([
        ("daily_run_passes", "every daily run against the healthy stand-in reports pass"),
        ("overhead_share", "reported; no goal set by the project"),
        ("daily_wall_s", "reported; no goal set by the project"),
    ])
    verdicts = collections.OrderedDict([("daily_run_passes", daily_ok)])
    actions = collections.Counter(t["action"] for t in tasks)
    return collections.OrderedDict([
        ("benchmark", NAME),
        ("date", _common.now_iso()),
        ("command", _common.command_line()),
        ("machine", info),
        ("machine_ansible", info["ansible"]),
        ("parameters", collections.OrderedDict([
            ("runs", args.full_runs), ("module_repeat", args.module_repeat), ("adhoc_repeat", args.adhoc_repeat),
            ("cpu_interval_s", args.cpu_interval), ("quick", args.quick), ("workdir", args.workdir),
            ("connection", "local"), ("stand_in", not args.quick),
            ("daily_args", QUICK_ARGS if args.quick else []),
            ("host_vars", {k: v for k, v in hv.items() if k != "ansible_python_interpreter"}),
        ])),
        ("daily_run", collections.OrderedDict([
            ("tasks", K), ("tasks_skipped", sum(1 for t in tasks if t["status"] == "skipped")),
            ("tasks_controller_only", sum(1 for t in tasks if t["action"] in CONTROLLER_ACTIONS and t["status"] != "skipped")),
            ("module_calls", M), ("actions", dict(actions.most_common())),
            ("instrumented_wall_s", round(instrumented["wall_s"], 3)), ("instrumented_play_s", round(play_s, 3)),
            ("sum_of_task_durations_s", round(sum(t["duration_s"] for t in tasks), 3)),
            ("report_statuses", statuses),
        ])),
        ("playbooks", playbooks),
        ("exec_ops_per_module", exec_ops),
        ("modules", collections.OrderedDict([
            ("python_m_ping_s", round(ping_py_wall, 4)), ("python_m_ping_cpu_s", round(ping_py_cpu, 4)),
            ("adhoc_ping_s", round(ping_adhoc_wall, 4) if ping_adhoc_wall is not None else None),
            ("python_m_sum_s", round(module_s, 3)), ("python_m_cpu_sum_s", round(module_cpu_s, 3)),
            ("python_m_beyond_ping_sum_s", round(module_work_s, 3)),
            ("adhoc_beyond_ping_sum_s", round(adhoc_work_s, 3) if adhoc_work_s is not None else None),
            ("calls", module_rows), ("not_replayed", not_replayed),
        ])),
        ("model", model),
        ("tasks", tasks_table(tasks)),
        ("ssh", "skipped: no sshd on this machine (only the ssh client); the runs use the local connection"
         if not info["sshd"] else "skipped: not measured (the local connection only)"),
        ("ratios", ratios),
        ("goals", goals),
        ("verdicts", verdicts),
        ("notes", NOTES),
    ])


def tasks_table(tasks):
    return [collections.OrderedDict([("name", t["name"]), ("action", t["action"]), ("status", t["status"]),
                                     ("duration_s", t["duration_s"]), ("items", len(t["items"]))]) for t in tasks]


NOTES = [
    "Every run is a separate ansible-playbook process started from this script, timed from outside (wall) and with the CPU "
    "time of it and every process it waited for (controller, workers, modules; not dockerd or the container).",
    "With the local connection, ansible.cfg's `[ssh_connection] pipelining = true` does not apply: the local connection "
    "reads pipelining from ANSIBLE_PIPELINING, `[defaults]` or `[connection]` only. So the default run is not pipelined "
    "(exec_ops_per_module shows the EXEC/PUT operations of one module call: temp directory, transfer, chmod, run, clean up, "
    "against one when pipelined).",
    "Modules alone: each module call of the instrumented run, with the arguments it logged (no_log hides "
    "docker_container_info's: its container name is given), run with python -m as Ansible's wrapper runs it; a template or "
    "copy task is a stat and a copy module call on the target. Before each call the backup directory is put back as the "
    "instrumented run left it. python_m_s includes the interpreter start and Ansible's module imports (about "
    "python_m_ping_s per call); beyond_ping is the median of its differences to a ping run just before it (one ping per "
    "module process; the same for ansible -m, where a copy or template task still has one more module call than a ping).",
    "others' cores: the average number of cores that other processes kept busy during a run (the machine's busy time from "
    "/proc/stat less the run's own CPU time): on a shared 2-core machine it says how much of the machine the run had.",
    "The model splits the default run's wall time: start-up (a one-task play), per-task cost (debug tasks, controller "
    "only) x tasks, per-module-call cost (a ping task minus a debug task: building and running a module process) x module "
    "calls, the modules' own work beyond a ping, and a remainder (templating of this playbook's variables, include_role, "
    "loops, the report's lookups).",
    "facts_on is debug_1 with gather_facts: true: what daily.yml's gather_facts: false saves per run.",
    "The daily runs read the stand-in's real container, logs, database and health endpoint; the backup role takes a real "
    "backup each run (retention keeps the newest of the day).",
]


def full_markdown(result):
    """The --full sections (a list of lines)."""
    r, p, pb = result["ratios"], result["parameters"], result["playbooks"]
    dr, mods = result["daily_run"], result["modules"]
    lines = ["%s; local connection; %s. Each playbook ran %d times in rotating order (medians); each module call alone %d times "
             "with python -m and %d times with ansible -m." % (
                 result["machine_ansible"], "a stand-in of its own" if p["stand_in"] else "no stand-in (--quick: disk item only)",
                 p["runs"], p["module_repeat"], p["adhoc_repeat"]), "",
             "### Summary", ""]
    d = pb["daily_default"]["wall_s"]
    rows = [
        ["daily.yml wall time (default settings)", "%.2f s" % d, result["goals"]["daily_wall_s"],
         ""],
        ["overhead share: (wall - modules alone) / wall", _common.fmt(r["overhead_share"]), result["goals"]["overhead_share"], ""],
        ["overhead share, modules' work beyond a ping process", _common.fmt(r["overhead_share_beyond_ping_work"]), "", ""],
        ["overhead share, ansible -m estimate", _common.fmt(r["overhead_share_adhoc_estimate"]), "", ""],
        ["every daily run reports pass", _common.fmt(result["verdicts"]["daily_run_passes"]), "yes",
         "" if result["verdicts"]["daily_run_passes"] is None else _verdict(result["verdicts"]["daily_run_passes"])],
    ]
    if "pipelining_off_over_on" in r:
        rows += [["wall, pipelining off / on", _common.fmt(r["pipelining_off_over_on"]), "", ""],
                 ["wall, default / pipelining on", _common.fmt(r["default_over_pipelining_on"]), "", ""],
                 ["overhead share with pipelining on", _common.fmt(r["overhead_share_pipelining_on"]), "", ""]]
    if r["facts_on_over_off"] is not None:
        rows += [["trivial play, gather_facts true / false", "%s (%+.2f s)" % (_common.fmt(r["facts_on_over_off"]), r["facts_saving_s"]), "", ""]]
    lines += [_common.md_table(["measure", "value", "goal", "verdict"], rows), "", "### Playbooks", ""]
    rows = [[key, "%.2f s" % v["wall_s"], " / ".join("%.2f" % x for x in v["wall_s_all"]), "%.2f s" % v["cpu_s"],
             _common.fmt(v["others_cores"]), _common.fmt(_common.ratio(v["wall_s"], d))] for key, v in pb.items()]
    lines += [_common.md_table(["playbook", "wall (median)", "each run", "CPU", "others' cores", "/ daily_default"], rows), "",
              "The daily run: %d tasks (%d skipped, %d on the controller only), %d module calls on the target; the "
              "instrumented run took %.2f s, its tasks %.2f s in all. EXEC/PUT operations per module call: %s." % (
                  dr["tasks"], dr["tasks_skipped"], dr["tasks_controller_only"], dr["module_calls"], dr["instrumented_wall_s"],
                  dr["sum_of_task_durations_s"], ", ".join("%s %s" % kv for kv in result["exec_ops_per_module"].items())), "",
              "ssh: %s." % result["ssh"], ""]
    if result["model"]:
        m = result["model"]
        rows = [["Ansible start-up (debug_1)", "%.2f s" % m["startup_s"], _common.fmt(m["shares"]["startup_share"])],
                ["%d more tasks x %.3f s (debug task)" % (dr["tasks"] - 1, r["per_task_s"]), "%.2f s" % m["tasks_s"], _common.fmt(m["shares"]["tasks_share"])],
                ["%d module calls x %.3f s (ping task - debug task)" % (dr["module_calls"], r["per_module_call_s"]), "%.2f s" % m["module_calls_s"],
                 _common.fmt(m["shares"]["module_calls_share"])],
                ["modules' own work beyond a ping (python -m)", "%.2f s" % m["module_work_s"], _common.fmt(m["shares"]["module_work_share"])],
                ["remainder", "%.2f s" % m["remainder_s"], _common.fmt(m["shares"]["remainder_share"])]]
        lines += ["### Where the time goes (default settings, %.2f s)" % d, "", _common.md_table(["part", "seconds", "share"], rows), ""]
        if "per_module_call_pipelining_on_s" in r:
            lines += ["Per module call with pipelining on: %.3f s (ping_M off / on %s)." % (
                r["per_module_call_pipelining_on_s"], _common.fmt(r["ping_M_off_over_on"])), ""]
    lines += ["### Modules alone", "",
              "python -m ping: %.3f s; ansible localhost -m ping: %s. Sum over the run's module calls: python -m %.2f s "
              "(CPU %.2f s), beyond a ping %.2f s; ansible -m beyond a ping %s." % (
                  mods["python_m_ping_s"], _common.fmt(mods["adhoc_ping_s"], " s"), mods["python_m_sum_s"], mods["python_m_cpu_sum_s"],
                  mods["python_m_beyond_ping_sum_s"], _common.fmt(mods["adhoc_beyond_ping_sum_s"], " s")), ""]
    rows = [[c["task"], c["action"], "%.3f s" % c["in_run_task_s"], "%.3f s" % c["python_m_s"], "%.3f s" % c["python_m_beyond_ping_s"],
             _common.fmt(c["adhoc_s"], " s"), _common.fmt(c["adhoc_beyond_ping_s"], " s"), "yes" if c["error"] else ""] for c in mods["calls"]]
    lines += [_common.md_table(["task", "action", "task in the run", "python -m", "beyond ping", "ansible -m", "beyond ping", "error"], rows), ""]
    if mods["not_replayed"]:
        lines += ["Not replayed: " + "; ".join("%s (%s)" % (x["task"], x["why"]) for x in mods["not_replayed"]) + ".", ""]
    return lines


# -- the run -----------------------------------------------------------------------------

def command_line():
    """The command, quoted for a shell (_common.command_line() does not quote --note's spaces)."""
    return " ".join([os.path.relpath(sys.argv[0], ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]]
                    + [shlex.quote(a) for a in sys.argv[1:]])


def hosts_list(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of host counts, e.g. 1,3")
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("host counts are 1 or more")
    return values


def build_parser():
    parser = argparse.ArgumentParser(prog="daily_bench.py", description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--baseline-ref", default="d9ce76d",
                        help="the BEFORE: a git ref (default d9ce76d, the daily run before the issue 7 rewrite)")
    parser.add_argument("--after-ref", default=None,
                        help="the AFTER: a git ref instead of the working tree (e.g. HEAD while the working tree is mid-edit)")
    parser.add_argument("--hosts", type=hosts_list, default=[1],
                        help="counts of inventory hosts (the same stand-in under N names), comma-separated (default 1; e.g. 1,3)")
    parser.add_argument("--runs", type=int, default=None, help="timed runs of each side and host count; medians (default 3, --quick 1)")
    parser.add_argument("--note", default="", help="a line shown at the top of the results (e.g. interim: the rewrite is in progress)")
    parser.add_argument("--cpu-interval", type=float, default=0.2, help="daily_cpu_interval_s of the runs (default 0.2)")
    parser.add_argument("--workdir", default="/var/tmp/milos-bench/daily",
                        help="where the trees, stand-in, inventories, backups, reports and outputs go (default /var/tmp/milos-bench/daily)")
    parser.add_argument("--results-dir", default=_common.RESULTS_DIR, help="where daily_bench.json and .md go (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true",
                        help="no stand-in: only the disk item of the daily run, one run of each (smoke test; the figures mean little)")
    full = parser.add_argument_group("--full: the older measurements of the working tree (several more minutes)")
    full.add_argument("--full", action="store_true",
                      help="also pipelining on/off, the trivial-play baselines and each module call alone (working tree)")
    full.add_argument("--full-runs", type=int, default=None, help="runs of each playbook with --full (default 5, --quick 1)")
    full.add_argument("--module-repeat", type=int, default=None,
                      help="runs of each module alone with python -m with --full (default 5, --quick 1)")
    full.add_argument("--adhoc-repeat", type=int, default=None,
                      help="runs of each module alone with ansible localhost -m with --full (default 3, --quick 0; 0 skips them)")
    return parser


def resolve(args):
    quick = args.quick
    if args.runs is None:
        args.runs = 1 if quick else 3
    if args.full_runs is None:
        args.full_runs = 1 if quick else 5
    if args.module_repeat is None:
        args.module_repeat = 1 if quick else 5
    if args.adhoc_repeat is None:
        args.adhoc_repeat = 0 if quick else 3
    if args.runs < 1 or args.full_runs < 1 or args.module_repeat < 1 or args.adhoc_repeat < 0:
        raise SystemExit("--runs, --full-runs and --module-repeat must be 1 or more, --adhoc-repeat 0 or more")
    args.hosts = sorted(set(args.hosts))
    return args


def ansible_version():
    res = subprocess.run([os.path.join(BIN, "ansible"), "--version"], capture_output=True, text=True, check=False)
    return (res.stdout.splitlines() or [None])[0]


def report_status(report_dir):
    path = os.path.join(report_dir, "daily", HOST, "latest.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle).get("status")
    except (OSError, ValueError):
        return None


def run(args):
    args = resolve(args)
    info = _common.machine()
    info["ansible"] = ansible_version()
    info["sshd"] = shutil.which("sshd") or (os.path.exists("/usr/sbin/sshd") and "/usr/sbin/sshd") or None
    started = time.monotonic()
    work = os.path.join(args.workdir, "run-%s" % uuid.uuid4().hex[:8])
    os.makedirs(work)
    standin = None
    try:
        if not args.quick:
            sys.path.insert(0, ROOT)
            from tests.helpers.standin import Standin  # pylint: disable=import-outside-toplevel
            log("starting a stand-in of our own in %s" % work)
            standin = Standin(Path(work))
            try:
                standin.up()
            except Exception:
                standin.destroy()
                standin = None
                raise
            log("stand-in %s on %s" % (standin.container, standin.url))
        sides, inventories, counts, runs = compare(args, work, standin)
        load_after_compare = [round(x, 2) for x in os.getloadavg()]
        full = None
        if args.full:
            log("--full: the older measurements of the working tree")
            full_work = os.path.join(work, "full")
            os.makedirs(full_work)
            full = measure(args, info, full_work, standin, sides["after"])
        first, table, ratios, goals, verdicts, code, inv = summarise_compare(args, sides, inventories, counts, runs)
        if full is not None:
            verdicts["full_daily_run_passes"] = full["verdicts"]["daily_run_passes"]
            for key in ("benchmark", "date", "command", "machine", "notes"):
                full.pop(key, None)
        load_end = [round(x, 2) for x in os.getloadavg()]
        return collections.OrderedDict([
            ("benchmark", NAME),
            ("date", _common.now_iso()),
            ("command", command_line()),
            ("note", args.note),
            ("machine", info),
            ("load_average_end", load_end),
            ("load_average_after_before_after", load_after_compare),
            ("duration_s", round(time.monotonic() - started, 1)),
            ("code", code),
            ("parameters", collections.OrderedDict([
                ("baseline_ref", args.baseline_ref), ("after_ref", args.after_ref), ("hosts", args.hosts), ("runs", args.runs),
                ("cpu_interval_s", args.cpu_interval), ("quick", args.quick), ("full", args.full), ("workdir", args.workdir),
                ("connection", "local"), ("stand_in", not args.quick), ("daily_args", QUICK_ARGS if args.quick else []),
                ("controller_only_actions", sorted(CONTROLLER_ACTIONS)),
                ("host_vars", inv),
            ])),
            ("summary", first),
            ("by_hosts", table),
            ("counts", counts),
            ("runs", runs),
            ("ratios", ratios),
            ("goals", goals),
            ("verdicts", verdicts),
            ("full", full),
            ("notes", COMPARE_NOTES + (NOTES if full is not None else [])),
        ])
    finally:
        if standin is not None:
            standin.destroy()
        shutil.rmtree(work, ignore_errors=True)


COMPARE_NOTES = [
    "CPU-seconds: user+sys of the ansible-playbook process and of every process it waited for (os.wait4 on it: the "
    "controller, its forks, the module processes). Not counted: the Docker daemon and containerd (docker_container_info, "
    "logs and stats are answered by dockerd), the stand-in's container, and this script. Per host = the run's CPU / hosts.",
    "Each timed run is a plain `ansible-playbook playbooks/daily.yml -i <inventory>` from the side's tree, with its "
    "ansible.cfg and ANSIBLE_COLLECTIONS_PATH=<tree>/.cache/collections (milos_shop.ops -> that tree), default stdout "
    "callback, no -v: the path users take. BEFORE and AFTER alternate (BA, AB, BA ...); medians are reported.",
    "Counting: one extra run per side and host count (not timed; also the warm-up, so that every timed run finds a "
    "backup directory and a report from before) with -vvv and a callback of the bench's own (milos_bench_count, aggregate). "
    "tasks = task results per host, skipped ones included (a skipped task costs its templating too); the recap's ok + "
    "failed + skipped + unreachable per host is recap_tasks_per_host in the JSON (ok already counts changed: ok + changed "
    "would count a changed task twice). module tasks = task results not skipped whose action is not controller-only (an "
    "action plugin of the collection, such as milos_shop.ops.checklist_report, counts as one even where it runs no module "
    "on the target). module calls = module executions on the target, exact: the 'Using module file' lines of -vvv (one "
    "per module process: each loop item, and each stat, copy or file call that a template, copy or collection action "
    "plugin makes).",
    "Controller-only actions (not a module call): set_fact, debug, assert, fail, include_role, include_tasks, import_role, "
    "import_tasks, validate_argument_spec, set_stats, meta, include_vars, add_host, group_by, pause (all ansible.builtin).",
    "BEFORE is exported with git archive (the repository is not touched) and gets an inventory with the old variable "
    "names, as its tests/integration/receivers.py wrote one; AFTER's inventory sets the old names and the milos_shop_* "
    "names to the same values. Both check the same stand-in (its own Compose project), alerts off, the host CPU alert "
    "threshold at 100 %, daily_cpu_interval_s --cpu-interval (sleeping costs wall, not CPU); --hosts N lists it under N "
    "host names, each with its own backup directory (each host takes its own backup each run) and maintenance file, and one "
    "report directory per inventory as on a control node (each host's report in daily/<host>/ of it; the notify role "
    "keeps its state there).",
    "A run that exits non-zero but wrote every host's report still counts (an item failed: e.g. the stand-in's Docker "
    "health check timing out on an overloaded machine); the Runs table gives its report status and exit code, and "
    "every_run_reports_pass says whether all passed. A run that stops before the reports aborts the benchmark.",
    "task_files_outside_tree lists task files that ran from outside the side's tree (it should be empty: the check that "
    "BEFORE ran the old code).",
    "others' cores: the average number of cores other processes kept busy during a run (the machine's busy time from "
    "/proc/stat less the run's own CPU time). On a shared 2-core machine CPU-seconds are steadier than wall time, but "
    "not immune to a loaded machine (caches, frequency).",
]


# -- the report ------------------------------------------------------------------------------

def _verdict(ok):
    return "met" if ok else "NOT met"


def _v(ok):
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def markdown(result):
    p, code = result["parameters"], result["code"]
    lines = ["# Daily run benchmark: BEFORE and AFTER", "",
             "Generated by `benchmarks/daily_bench.py` on %s; command `%s`; %.0f s. Do not edit by hand." % (
                 result["date"], result["command"], result["duration_s"]), ""]
    if result["note"]:
        lines += ["**%s**" % result["note"], ""]
    m = result["machine"]
    lines += [_common.machine_md(m), "",
              "Load average at the end: %s. %s; local connection; %s." % (
                  " ".join(str(x) for x in result["load_average_end"]), m["ansible"],
                  "one stand-in of its own" if p["stand_in"] else "no stand-in (--quick: the disk item only)"), ""]
    after_code = "%s (%s)" % (code["after"]["ref"], code["after"]["commit"][:9])
    if code["after"]["uncommitted"]:
        after_code += ", uncommitted changes in: " + ", ".join(code["after"]["uncommitted"])
    lines += ["- BEFORE: `%s` (%s), old variable names." % (code["before"]["ref"], code["before"]["commit"][:9]),
              "- AFTER: %s; old and milos_shop_* variable names." % after_code, "",
              "## Summary", "",
              "%d timed runs of each (medians), BEFORE and AFTER alternating, after one counting run of each." % p["runs"], ""]
    rows = []
    for n, e in result["by_hosts"].items():
        b, a, r = e["before"], e["after"], e["after_over_before"]
        h = "%s host%s" % (n, "" if n == "1" else "s")
        rows += [
            [h, "CPU-seconds per host", "%.2f" % b["cpu_per_host_s"], "%.2f" % a["cpu_per_host_s"], _common.fmt(r["cpu_per_host_s"]),
             "<= %g" % GOAL_CPU_PER_HOST_S, _v(e["goal_met"])],
            [h, "CPU-seconds per host above the floor", "%.2f" % e["above_floor_per_host_s"]["before"],
             "%.2f" % e["above_floor_per_host_s"]["after"], _common.fmt(r["above_floor_per_host"]), "", ""],
            [h, "wall time", "%.2f s" % b["wall_s"], "%.2f s" % a["wall_s"], _common.fmt(r["wall_s"]), "", ""],
            [h, "tasks per host", _common.fmt(b["tasks_per_host"]), _common.fmt(a["tasks_per_host"]),
             _common.fmt(r["tasks_per_host"]), "", ""],
            [h, "of which not skipped", _common.fmt(b["tasks_not_skipped_per_host"]), _common.fmt(a["tasks_not_skipped_per_host"]),
             _common.fmt(r["tasks_not_skipped_per_host"]), "", ""],
            [h, "module calls per host", _common.fmt(b["module_calls_per_host"]), _common.fmt(a["module_calls_per_host"]),
             _common.fmt(r["module_calls_per_host"]), "", ""],
            [h, "tasks with a module action per host", _common.fmt(b["module_tasks_per_host"]),
             _common.fmt(a["module_tasks_per_host"]), _common.fmt(r["module_tasks_per_host"]), "", ""],
        ]
    lines += [_common.md_table(["hosts", "measure", "BEFORE", "AFTER", "AFTER / BEFORE", "goal", "verdict"], rows), "",
              "The floor (%s): %s." % (result["by_hosts"][str(p["hosts"][0])]["floor"]["what"], "; ".join(
                  "%s host%s %.2f CPU-seconds per host, %.2f s wall" % (
                      n, "" if n == "1" else "s", e["floor"]["cpu_per_host_s"], e["floor"]["wall_s"])
                  for n, e in result["by_hosts"].items())), ""]
    if "every_run_reports_pass" in result["verdicts"]:
        lines += ["Every timed run's report says pass: %s." % _common.fmt(result["verdicts"]["every_run_reports_pass"]), ""]
    lines += ["## Runs", ""]
    rows = []
    for key, rs in result["runs"].items():
        side, n = key.split("-n")
        for r in rs:
            rows.append([side.upper(), n, r["round"], "%.2f" % r["cpu_s"], "%.2f" % (r["cpu_s"] / int(n)),
                         "%.2f / %.2f" % (r["user_s"], r["sys_s"]), "%.2f s" % r["wall_s"], _common.fmt(r["others_cores"]),
                         (" ".join(str(s) for s in r["statuses"]) or "n/a") + (" (exit %d)" % r["rc"] if r["rc"] else "")])
    rows.sort(key=lambda x: (int(x[1]), x[2], {"BEFORE": 0, "AFTER": 1}.get(x[0], 2)))
    lines += [_common.md_table(["side", "hosts", "round", "CPU s", "CPU s per host", "user / sys", "wall", "others' cores",
                                "report status"], rows), ""]
    lines += ["## Counts", "", "From the counting run of each (one host unless said).", ""]
    rows = []
    for key, c in result["counts"].items():
        side, n = key.split("-n")
        rt = c["recap_total"]
        rows.append([side.upper(), n, c["task_results"], c["skipped"], c["controller_only"], c["module_tasks"], c["module_executions"],
                     "ok=%d changed=%d failed=%d skipped=%d rescued=%d ignored=%d" % (
                         rt["ok"], rt["changed"], rt["failures"], rt["skipped"], rt["rescued"], rt["ignored"]),
                     ", ".join(c["task_files_outside_tree"]) or "none"])
    lines += [_common.md_table(["side", "hosts", "task results", "skipped", "controller-only", "module tasks", "module calls",
                                "recap (all hosts)", "task files outside its tree"], rows), ""]
    for s in SIDES:
        c = result["counts"]["%s-n%d" % (s, p["hosts"][0])]
        lines += ["%s module calls by module: %s." % (s.upper(), ", ".join("%s %d" % kv for kv in c["module_executions_by_module"].items())),
                  "", "%s controller-only task results by action: %s." % (
                      s.upper(), ", ".join("%s %d" % kv for kv in c["controller_only_by_action"].items()) or "none"), ""]
    if result.get("full"):
        lines += ["## --full: the older measurements (AFTER: %s)" % result["code"]["after"]["ref"], ""] + full_markdown(result["full"])
    lines += ["## Notes", ""] + ["- " + note for note in result["notes"]]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = run(args)
    json_path, md_path = _common.write_results(args.results_dir, NAME, result, markdown(result))
    for n, e in result["by_hosts"].items():
        b, a, r = e["before"], e["after"], e["after_over_before"]
        print("%s host(s): CPU-seconds per host BEFORE %.2f, AFTER %.2f (AFTER / BEFORE %s; goal <= %g: %s); wall %.2f / %.2f s; "
              "tasks per host %s / %s; module calls per host %s / %s" % (
                  n, b["cpu_per_host_s"], a["cpu_per_host_s"], _common.fmt(r["cpu_per_host_s"]), GOAL_CPU_PER_HOST_S,
                  _v(e["goal_met"]), b["wall_s"], a["wall_s"], b["tasks_per_host"], a["tasks_per_host"],
                  b["module_calls_per_host"], a["module_calls_per_host"]))
    if result.get("full"):
        r = result["full"]["ratios"]
        print("--full: daily.yml wall (default settings) %.2f s; overhead share %s; per task %s s, per module call %s s" % (
            result["full"]["playbooks"]["daily_default"]["wall_s"], _common.fmt(r["overhead_share"]),
            _common.fmt(r["per_task_s"]), _common.fmt(r["per_module_call_s"])))
    print("verdicts: %s" % json.dumps(result["verdicts"]))
    print("results: %s, %s" % (json_path, md_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
