#!/usr/bin/env python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Daily run benchmark: playbooks/daily.yml's wall time and the share of it that is Ansible's.

Starts a stand-in of its own (tests/helpers/standin.py: its own Compose project on a
free loopback port) and writes an inventory like the integration tests' (local
connection, this interpreter, backups and reports in --workdir, alerts off,
daily_cpu_interval_s --cpu-interval). Then, each playbook --runs times in rotating
order (medians):

  daily_default        playbooks/daily.yml as ansible.cfg sets it up
  daily_pipelining_on  the same with ANSIBLE_PIPELINING=True
  daily_pipelining_off the same with ANSIBLE_PIPELINING=False
  debug_1              baseline: a play of one ansible.builtin.debug task (start-up)
  debug_K              baseline: as many debug tasks as the daily run has (per-task cost)
  ping_M               baseline: as many ansible.builtin.ping tasks as the daily run
                       executes modules (per-module cost), by default and pipelined
  facts_on             debug_1 with gather_facts: true (daily.yml has it false)

One more daily run with the ansible.posix.json callback lists every task, its time
and its module arguments; each module call is then run alone, --module-repeat times:
with `python -m` (its arguments in a file, as Ansible's wrapper passes them) against
`python -m ansible.modules.ping`, and with `ansible localhost -m` against
`ansible localhost -m ansible.builtin.ping`. Ratios: overhead share =
(wall - modules' own time) / wall, pipelining off / on, facts on / off.
Results go to --results-dir as daily_bench.json and daily_bench.md.

    python benchmarks/daily_bench.py                     # about 8 minutes; Docker and the stand-in image
    python benchmarks/daily_bench.py --quick --results-dir /tmp/r   # no stand-in, seconds
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
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
    "ansible.builtin.meta", "ansible.builtin.include_vars",
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

    def __init__(self, workdir):
        self.workdir = workdir
        self.outputs = os.path.join(workdir, "outputs")
        os.makedirs(self.outputs, exist_ok=True)

    def playbook(self, key, playbook, inventory, extra_args=(), pipelining=None, env_extra=None, check=True):
        out = os.path.join(self.outputs, key + ".out")
        argv = [os.path.join(BIN, "ansible-playbook"), playbook, "-i", inventory] + list(extra_args)
        others = []
        code, wall, cpu = run_measured(argv, out, env=ansible_env(pipelining, **(env_extra or {})), others=others)
        if check and code != 0:
            with open(out, encoding="utf-8", errors="replace") as handle:
                raise RuntimeError("%s exited %d:\n%s" % (key, code, handle.read()[-6000:]))
        return dict(wall_s=wall, cpu_s=cpu, others_cores=others[0] if others else None, rc=code, output=out)


# -- the inventory and the playbooks --------------------------------------------------------

def host_vars(args, standin, work):
    hv = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "backup_dir": os.path.join(work, "backups"),
        "report_dir": os.path.join(work, "reports"),
        # The machine is shared and busy: keep the host CPU alert out of a benchmark's run.
        "daily_cpu_threshold_percent": 100,
        "daily_cpu_interval_s": args.cpu_interval,
        "report_history_enabled": False,
    }
    if standin is not None:
        hv.update({
            "daily_container": standin.container,
            "backup_container": standin.container,
            "daily_health_url": "%s/api/services" % standin.url,
            "daily_data_dir": str(standin.data_dir),
        })
    else:  # --quick: no stand-in; only the disk item runs (see QUICK_ARGS)
        data = os.path.join(work, "data")
        os.makedirs(data, exist_ok=True)
        hv.update({"daily_container": "milos-bench-none", "daily_data_dir": data, "daily_backup_enabled": False})
    return hv


# --quick has no stand-in: run only the disk item, without the always-tagged report and alert tasks
# (daily_items as an extra var, since the task that starts the list is tagged always).
QUICK_ARGS = ["--tags", "daily_disk", "--skip-tags", "always", "-e", '{"daily_items": []}']


def trivial_playbook(path, count, module="ansible.builtin.debug", gather_facts=False):
    tasks = []
    for index in range(count):
        if module == "ansible.builtin.debug":
            tasks.append({"name": "Task %d" % (index + 1), module: {"msg": "task %d" % (index + 1)}})
        else:
            tasks.append({"name": "Task %d" % (index + 1), module: {}})
    play = [{"name": "Baseline: %d x %s" % (count, module), "hosts": HOST, "gather_facts": gather_facts, "tasks": tasks}]
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

    def __init__(self, workdir, backup_dir, snapshot):
        self.tmp = os.path.join(workdir, "replay")
        os.makedirs(self.tmp, exist_ok=True)
        self.backup_dir = backup_dir
        self.snapshot = snapshot
        self.env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, ".cache", "collections"))
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


# -- the run -----------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(prog="daily_bench.py", description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--runs", type=int, default=None, help="runs of each playbook; medians are reported (default 5, --quick 1)")
    parser.add_argument("--module-repeat", type=int, default=None,
                        help="runs of each module alone with python -m (default 5, --quick 1)")
    parser.add_argument("--adhoc-repeat", type=int, default=None,
                        help="runs of each module alone with ansible localhost -m (default 3, --quick 1; 0 skips them)")
    parser.add_argument("--cpu-interval", type=float, default=0.2, help="daily_cpu_interval_s of the runs (default 0.2)")
    parser.add_argument("--workdir", default="/var/tmp/milos-bench/daily",
                        help="where the stand-in, inventory, backups, reports and outputs go (default /var/tmp/milos-bench/daily)")
    parser.add_argument("--results-dir", default=_common.RESULTS_DIR, help="where daily_bench.json and .md go (default benchmarks/results)")
    parser.add_argument("--quick", action="store_true",
                        help="no stand-in: only the disk item of the daily run, one run of each (smoke test; the figures mean little)")
    return parser


def resolve(args):
    quick = args.quick
    if args.runs is None:
        args.runs = 1 if quick else 5
    if args.module_repeat is None:
        args.module_repeat = 1 if quick else 5
    if args.adhoc_repeat is None:
        args.adhoc_repeat = 0 if quick else 3
    if args.runs < 1 or args.module_repeat < 1 or args.adhoc_repeat < 0:
        raise SystemExit("--runs and --module-repeat must be 1 or more, --adhoc-repeat 0 or more")
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
        return measure(args, info, work, standin)
    finally:
        if standin is not None:
            standin.destroy()
        shutil.rmtree(work, ignore_errors=True)


def measure(args, info, work, standin):
    runner = Runner(work)
    hv = host_vars(args, standin, work)
    inventory = os.path.join(work, "hosts.yml")
    with open(inventory, "w", encoding="utf-8") as handle:
        yaml.safe_dump({"milos_shop": {"hosts": {HOST: hv}}}, handle)
    daily = os.path.join(ROOT, "playbooks", "daily.yml")
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
    playbooks["debug_K"] = (trivial_playbook(os.path.join(work, "debug_K.yml"), K), [], None)
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
    for rnd in range(args.runs):
        order = keys[rnd % len(keys):] + keys[:rnd % len(keys)]
        for key in order:
            path, extra, pipelining = playbooks[key]
            res = runner.playbook(key, path, inventory, extra, pipelining=pipelining)
            runs[key].append(res)
            if key.startswith("daily_") and not args.quick:
                statuses.append(report_status(hv["report_dir"]))
        log("round %d/%d: %s" % (rnd + 1, args.runs, ", ".join("%s %.2f s" % (k, runs[k][-1]["wall_s"]) for k in keys)))

    # Each module call alone, each right after a ping of the same kind (paired: the load drifts).
    replayer = Replayer(work, hv["backup_dir"], snapshot)
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
    per_task = (wall["debug_K"] - startup) / (K - 1) if K > 1 else None
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
        ("parameters", collections.OrderedDict([
            ("runs", args.runs), ("module_repeat", args.module_repeat), ("adhoc_repeat", args.adhoc_repeat),
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


# -- the report ------------------------------------------------------------------------------

def markdown(result):
    r, p, pb = result["ratios"], result["parameters"], result["playbooks"]
    dr, mods = result["daily_run"], result["modules"]
    lines = ["# Daily run benchmark", "",
             "Generated by `benchmarks/daily_bench.py` on %s; command `%s`. Do not edit by hand." % (result["date"], result["command"]), "",
             _common.machine_md(result["machine"]), "",
             "%s; local connection; %s. Each playbook ran %d times in rotating order (medians); each module call alone %d times "
             "with python -m and %d times with ansible -m." % (
                 result["machine"]["ansible"], "a stand-in of its own" if p["stand_in"] else "no stand-in (--quick: disk item only)",
                 p["runs"], p["module_repeat"], p["adhoc_repeat"]), "",
             "## Summary", ""]
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
    lines += [_common.md_table(["measure", "value", "goal", "verdict"], rows), "", "## Playbooks", ""]
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
        lines += ["## Where the time goes (default settings, %.2f s)" % d, "", _common.md_table(["part", "seconds", "share"], rows), ""]
        if "per_module_call_pipelining_on_s" in r:
            lines += ["Per module call with pipelining on: %.3f s (ping_M off / on %s)." % (
                r["per_module_call_pipelining_on_s"], _common.fmt(r["ping_M_off_over_on"])), ""]
    lines += ["## Modules alone", "",
              "python -m ping: %.3f s; ansible localhost -m ping: %s. Sum over the run's module calls: python -m %.2f s "
              "(CPU %.2f s), beyond a ping %.2f s; ansible -m beyond a ping %s." % (
                  mods["python_m_ping_s"], _common.fmt(mods["adhoc_ping_s"], " s"), mods["python_m_sum_s"], mods["python_m_cpu_sum_s"],
                  mods["python_m_beyond_ping_sum_s"], _common.fmt(mods["adhoc_beyond_ping_sum_s"], " s")), ""]
    rows = [[c["task"], c["action"], "%.3f s" % c["in_run_task_s"], "%.3f s" % c["python_m_s"], "%.3f s" % c["python_m_beyond_ping_s"],
             _common.fmt(c["adhoc_s"], " s"), _common.fmt(c["adhoc_beyond_ping_s"], " s"), "yes" if c["error"] else ""] for c in mods["calls"]]
    lines += [_common.md_table(["task", "action", "task in the run", "python -m", "beyond ping", "ansible -m", "beyond ping", "error"], rows), ""]
    if mods["not_replayed"]:
        lines += ["Not replayed: " + "; ".join("%s (%s)" % (x["task"], x["why"]) for x in mods["not_replayed"]) + ".", ""]
    lines += ["## Notes", ""] + ["- " + note for note in result["notes"]]
    return "\n".join(lines) + "\n"


def _verdict(ok):
    return "met" if ok else "NOT met"


def main(argv=None):
    args = build_parser().parse_args(argv)
    result = run(args)
    json_path, md_path = _common.write_results(args.results_dir, NAME, result, markdown(result))
    r = result["ratios"]
    print("daily.yml wall (default settings): %.2f s; overhead share %s (beyond-ping work: %s; ansible -m estimate: %s)" % (
        result["playbooks"]["daily_default"]["wall_s"], _common.fmt(r["overhead_share"]),
        _common.fmt(r["overhead_share_beyond_ping_work"]), _common.fmt(r["overhead_share_adhoc_estimate"])))
    if "pipelining_off_over_on" in r:
        print("pipelining off / on: %s; default / on: %s" % (_common.fmt(r["pipelining_off_over_on"]), _common.fmt(r["default_over_pipelining_on"])))
    if r["facts_on_over_off"] is not None:
        print("gather_facts on / off (trivial play): %s (%+.2f s)" % (_common.fmt(r["facts_on_over_off"]), r["facts_saving_s"]))
    print("per task %s s, per module call %s s" % (_common.fmt(r["per_task_s"]), _common.fmt(r["per_module_call_s"])))
    print("verdicts: %s" % json.dumps(result["verdicts"]))
    print("results: %s, %s" % (json_path, md_path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
