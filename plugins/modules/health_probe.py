#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: health_probe
short_description: Probe the shop's health endpoint over HTTP(S), its WebSocket and its TLS certificate
version_added: 0.1.0
description:
  - Requests O(url) (by default the guide's health endpoint C(GET /api/services)) and checks the answer the way an
    operator would with C(curl -f), and more precisely.
  - Checks the status code against O(status_codes) and the latency, measured in milliseconds, against
    O(latency_threshold_ms) (the guide alerts on answers slower than 5 s). M(ansible.builtin.uri) reports whole
    seconds only.
  - Optionally parses the body as JSON and evaluates JMESPath expressions on it (O(json_assertions)), and matches the
    body against a regular expression (O(body_regex)).
  - Optionally checks that the Socket.io WebSocket upgrade is answered with C(101 Switching Protocols) and a correct
    C(Sec-WebSocket-Accept) (O(websocket)).
  - For C(https://) URLs, reports the days until the server certificate expires and alerts below
    O(tls_days_threshold).
  - Retries with exponential backoff when the server cannot be reached or answers an unexpected status.
  - Never changes anything. A failed check fails the task unless O(fail_on_alert=false); the result says plainly what
    is wrong in RV(msg) and RV(alerts), and names transport problems as what they are (C(connection_refused),
    C(dns), C(timeout), C(tls), C(not_json), ...).
  - Returns the checklist item RV(item) with id V(health). V(pass) without alerts; V(warn) when the only alerts are
    C(latency) or C(tls_expiry) (the shop answers, slowly, or with a certificate that expires soon); V(fail) otherwise.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
  - milos_shop.ops._attributes.read_only
  - milos_shop.ops._checklist
requirements:
  - jmespath (only for O(json_assertions))
options:
  url:
    description:
      - The URL to request, C(http://) or C(https://).
    type: str
    default: http://127.0.0.1:5000/api/services
  method:
    description:
      - HTTP method of the request.
      - V(HEAD) gets no body, so it cannot be combined with O(expect_json), O(json_assertions), O(return_json) or
        O(body_regex).
    type: str
    default: GET
    choices: [GET, HEAD]
  headers:
    description:
      - Extra request headers.
    type: dict
    default: {}
  status_codes:
    description:
      - The status codes that count as healthy, each from 100 to 599.
    type: list
    elements: int
    default: [200]
  latency_threshold_ms:
    description:
      - An answer slower than this, in milliseconds, raises a C(latency) alert.
    type: int
    default: 5000
  timeout:
    description:
      - Seconds to wait for the connection and for each read.
    type: float
    default: 10
  retries:
    description:
      - How many more times to try when the server cannot be reached or answers a status not in O(status_codes).
    type: int
    default: 0
  backoff:
    description:
      - Seconds before the first retry; each further retry waits twice as long (V(1), V(2), V(4), ... with the default).
    type: float
    default: 1
  expect_json:
    description:
      - Alert (C(not_json)) when the body is not JSON. Implied by O(json_assertions).
    type: bool
    default: false
  json_assertions:
    description:
      - JMESPath expressions evaluated on the JSON body; each must give a true value (not null, false, 0, or an empty
        string, list or object), for example V(length(@\) > `0`) or V([0].name).
      - An expression that is not valid JMESPath fails the task. One that cannot be applied to the document (a type
        error, such as C(length(\)) of a number) does not hold and raises an C(assertion) alert.
    type: list
    elements: str
    default: []
  return_json:
    description:
      - Return the parsed body in RV(json). A body that is not JSON gives V(null), and raises a C(not_json) alert only
        with O(expect_json) or O(json_assertions).
    type: bool
    default: false
  body_regex:
    description:
      - A regular expression the body must match (Python C(re.search)).
    type: str
  websocket:
    description:
      - Also check the WebSocket upgrade on the same host and port at O(websocket_path).
    type: bool
    default: false
  websocket_path:
    description:
      - Path of the WebSocket endpoint (Socket.io's by default).
    type: str
    default: /socket.io/?EIO=4&transport=websocket
  tls_days_threshold:
    description:
      - For C(https://) URLs, alert (C(tls_expiry)) when the certificate expires in fewer days than this.
      - The certificate is checked whenever the server answered, whatever the status.
    type: int
    default: 14
  validate_certs:
    description:
      - Verify the server's TLS certificate and host name.
    type: bool
    default: true
  ca_path:
    description:
      - A file of CA certificates to verify the server with, instead of the system's.
    type: path
  fail_on_alert:
    description:
      - Fail the task when any alert is raised. With V(false) the task succeeds and RV(ok) and RV(item) tell.
    type: bool
    default: true
notes:
  - The latency is the time from the start of the connection to the end of the body.
seealso:
  - module: ansible.builtin.uri
"""

EXAMPLES = r"""
- name: Check the health endpoint like the guide's curl, with a 5 s latency threshold
  milos_shop.ops.health_probe:
    url: http://127.0.0.1:5000/api/services
    json_assertions:
      - "length(@) > `0`"

- name: Check the WebSocket and retry a restarting app
  milos_shop.ops.health_probe:
    url: http://127.0.0.1:5000/api/services
    websocket: true
    retries: 3
    backoff: 2

- name: Report without failing, for a run report
  milos_shop.ops.health_probe:
    url: https://shop.example.com/api/services
    tls_days_threshold: 21
    fail_on_alert: false
  register: health
"""

RETURN = r"""
item:
  description:
    - The checklist item (id V(health) unless O(item_id) is set); see the notes for its shape. Its summary names the URL.
    - C(evidence) holds C(url), C(status), C(latency_ms), C(attempts), C(websocket) and C(alerts) (as the return values
      of the same names), and C(tls_days_left) for an C(https://) URL that answered.
  returned: always
  type: dict
  sample:
    id: health
    title: Health check OK (curl /api/services)
    status: warn
    summary: http://127.0.0.1:5000/api/services answered in 6012 ms, over the 5000 ms threshold
    evidence: {url: "http://127.0.0.1:5000/api/services", status: 200, latency_ms: 6012.4, attempts: 1,
               websocket: null, alerts: []}
    alerts: [{kind: latency, severity: warn, value: 6012.4, threshold: 5000,
              message: "http://127.0.0.1:5000/api/services answered in 6012 ms, over the 5000 ms threshold"}]
ok:
  description: Whether every check passed (no alert).
  returned: always
  type: bool
msg:
  description: One line saying what is wrong, or what answered how fast.
  returned: always
  type: str
  sample: http://127.0.0.1:5000/api/services answered in 6012 ms, over the 5000 ms threshold
url:
  description: The URL requested.
  returned: always
  type: str
status:
  description: The HTTP status of the last attempt; null when no answer came.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Milliseconds from the start of the connection to the end of the body, of the last attempt.
  returned: always
  type: float
  sample: 3.2
attempts:
  description: How many requests were made.
  returned: always
  type: int
failed_assertions:
  description: The JMESPath expressions (and the body regex) that did not hold.
  returned: always
  type: list
  elements: str
alerts:
  description: One entry per problem found.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description:
        - What is wrong, one of C(status), C(latency), C(assertion), C(body_regex), C(not_json), C(tls_expiry),
          C(websocket), C(connection_refused), C(connection_reset), C(dns), C(timeout), C(tls), C(protocol),
          C(network), C(error).
      type: str
    severity:
      description: V(warn) for C(latency) and C(tls_expiry), V(fail) for the others.
      type: str
    message:
      description: A sentence for a person.
      type: str
    value:
      description: The measured value (status, milliseconds, days), when there is one.
      type: raw
    threshold:
      description:
        - What the value was held against, when there is one (O(latency_threshold_ms), O(tls_days_threshold), the list
          O(status_codes), 101 for C(websocket)); null otherwise.
      type: raw
error:
  description: The transport error of the last attempt, when no answer came.
  returned: always
  type: dict
json:
  description: The parsed body, with O(return_json=true).
  returned: always
  type: raw
websocket:
  description: The WebSocket check, with O(websocket=true).
  returned: when O(websocket=true)
  type: dict
  contains:
    url:
      description: The WebSocket URL.
      type: str
    status:
      description: The HTTP status of the upgrade answer (101 when it worked).
      type: int
    accept_ok:
      description: Whether C(Sec-WebSocket-Accept) matched the key sent.
      type: bool
    latency_ms:
      description: Milliseconds to the answer.
      type: float
tls_days_left:
  description: Days until the server certificate expires.
  returned: when an https URL answered
  type: float
  sample: 41.52
tls_not_after:
  description: When the server certificate expires (ISO 8601, UTC).
  returned: when an https URL answered
  type: str
  sample: "2026-01-09T12:00:00+00:00"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.milos_shop.ops.plugins.module_utils._health import (
    HAS_JMESPATH,
    ITEM_ID,
    ITEM_TITLE,
    judge,
    probe,
)


def argument_spec():
    return dict(
        url=dict(type="str", default="http://127.0.0.1:5000/api/services"),
        method=dict(type="str", default="GET", choices=["GET", "HEAD"]),
        headers=dict(type="dict", default={}),
        status_codes=dict(type="list", elements="int", default=[200]),
        latency_threshold_ms=dict(type="int", default=5000),
        timeout=dict(type="float", default=10),
        retries=dict(type="int", default=0),
        backoff=dict(type="float", default=1),
        expect_json=dict(type="bool", default=False),
        json_assertions=dict(type="list", elements="str", default=[]),
        return_json=dict(type="bool", default=False),
        body_regex=dict(type="str"),
        websocket=dict(type="bool", default=False),
        websocket_path=dict(type="str", default="/socket.io/?EIO=4&transport=websocket"),
        tls_days_threshold=dict(type="int", default=14),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        fail_on_alert=dict(type="bool", default=True),
        item_id=dict(type="str"),
        item_title=dict(type="str"),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    if params["json_assertions"] and not HAS_JMESPATH:
        module.fail_json(msg=missing_required_lib("jmespath"))
    try:
        result = probe(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="health probe of %r failed unexpectedly: %s" % (params["url"], exc), exception=traceback.format_exc())
    result["changed"] = False
    result["item"] = judge(result, params["item_id"] or ITEM_ID, params["item_title"] or ITEM_TITLE)
    if params["fail_on_alert"] and not result["ok"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
