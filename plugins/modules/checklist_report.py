#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: checklist_report
short_description: Write a checklist run's report on the control node
version_added: 0.2.0
description:
  - >-
    Writes the report of one host's checklist items (any run, such as daily, weekly, monthly or troubleshoot) as
    C(<dir>/<name>/<host>/latest.md) (one line per item, problems first) and C(latest.json), with timestamped copies,
    or, with O(scope=summary), C(<dir>/<name>/summary.md) and C(summary.json) over the hosts of the play.
  - Runs on the control node as an action plugin (no module process per host). Files are written atomically.
  - The report is what a check run is for, so it is written in check mode too.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
attributes:
  check_mode:
    support: full
    details:
      - The report is written in check mode as well; it records that the run was a check (C(check_mode) in the JSON).
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Each run writes a report with its own time.
options:
  dir:
    description:
      - Directory on the control node that receives the reports.
    type: path
    required: true
  name:
    description:
      - Name of the run (V(daily), V(weekly), ...), a subdirectory of O(dir).
    type: str
    required: true
  scope:
    description:
      - V(host) writes the report of the current host from O(items). V(summary) writes the summary over O(hosts),
        reading each host's C(report_status) and C(report_problems).
    type: str
    default: host
    choices: [host, summary]
  items:
    description:
      - The host's checklist items (see the notes of M(milos_shop.ops.health_probe) for their shape).
    type: list
    elements: dict
    default: []
  hosts:
    description:
      - The hosts of the summary, for O(scope=summary). A host without C(report_status) is listed as C(no result).
    type: list
    elements: str
    default: []
  time:
    description:
      - Time of the run (UTC, as in file names, C(YYYY-MM-DDTHH-MM-SSZ)); it names the timestamped copies.
    type: str
    required: true
  history:
    description:
      - Keep a timestamped copy of each host report beside C(latest).
    type: bool
    default: true
  mode:
    description:
      - Mode of the report files.
    type: raw
    default: "0640"
  dir_mode:
    description:
      - Mode of the report directories.
    type: raw
    default: "0750"
"""

EXAMPLES = r"""
- name: Write the host's report
  milos_shop.ops.checklist_report:
    dir: /var/lib/milos-shop-ops/reports
    name: daily
    items: "{{ milos_shop_items }}"
    time: "{{ now(utc=true).strftime('%Y-%m-%dT%H-%M-%SZ') }}"
"""

RETURN = r"""
status:
  description: The host's status (the worst of its items) or, for the summary, the run's status over hosts.
  returned: always
  type: str
  sample: warn
problems:
  description: Ids of the host's items that are not pass, worst first.
  returned: scope is host
  type: list
  elements: str
counts:
  description: How many items have each status.
  returned: scope is host
  type: dict
lines:
  description: The Markdown report, line by line.
  returned: scope is host
  type: list
  elements: str
hosts:
  description: The summary's rows (host, status, problems), problems first.
  returned: scope is summary
  type: list
  elements: dict
path:
  description: The Markdown file written (C(latest.md) or C(summary.md)).
  returned: always
  type: str
written:
  description: Every file written.
  returned: always
  type: list
  elements: str
"""
