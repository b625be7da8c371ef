# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This doc fragment is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

from __future__ import annotations


class ModuleDocFragment:
    # The checklist item that every check module returns as RV(item). ansible-doc
    # has no fragments for RETURN: the item's shape is documented here, once,
    # and each module's RETURN names it.
    DOCUMENTATION = r"""
options:
  item_id:
    description:
      - The C(id) of the returned checklist item RV(item) (the report and the alerts key on it).
      - Defaults to the check's own id.
    type: str
  item_title:
    description:
      - The C(title) of the returned checklist item RV(item), as the report shows it.
      - Defaults to the check's own title, which names the guide's command it replaces.
    type: str
notes:
  - >-
    This check returns one checklist item in RV(item), the shape shared by every check of the collection:
    C(id) and C(title); C(status), one of V(pass), V(warn), V(fail) or V(skip) (a skip always says why in its
    summary); C(summary), one sentence that says plainly what was found; C(evidence), a dict of what was measured
    (values, thresholds, units); and C(alerts), a list with one entry per threshold crossed, each with C(kind),
    C(severity) (V(warn) or V(fail)), C(value), C(threshold) and C(message).
  - >-
    The check only measures and judges: it never changes anything, and returns the same in check mode. A problem
    found does not fail the task (the C(status) of RV(item) tells), except through the module's own C(fail_on_alert) option
    where it has one; only options the check cannot work with fail it. The roles record the items; the report and
    notify roles read nothing else.
"""
