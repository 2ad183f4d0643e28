"""Checks of our own for `scripts/schemathesis.sh` (loaded through
SCHEMATHESIS_HOOKS): what the role matrix promises, whatever the request.

- `refused_before_the_body`: under one key, an operation answers 403 to every
  request or to none. A role that may not call a route must be refused from the
  request's head, so a malformed body can never earn a 400 or 422 instead (and a
  role that may call it is never refused because of what it sent).
- `no_key_is_refused`: without a key (DETECTIVE_ST_ROLE=none), every operation
  that declares security answers 401, whatever the body, path or query.
"""

import os
import threading

import schemathesis

ROLE = os.environ.get("DETECTIVE_ST_ROLE", "none")


def _secured(case):
    op = case.operation.definition.raw
    schema = case.operation.schema.raw_schema
    security = op.get("security", schema.get("security", []))
    return bool(security) and all(s for s in security)


@schemathesis.check
class refused_before_the_body:
    """An operation answers 403 to every request of one key, or to none."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}

    def after_response(self, ctx, response, case):
        if ROLE == "none" or response.status_code in (401, 405, 429, 503):
            return None
        label = case.operation.label
        refused = response.status_code == 403
        with self.lock:
            kinds = self.seen.setdefault(label, {})
            kinds.setdefault(refused, response.status_code)
            if len(kinds) == 2:
                raise AssertionError(
                    f"{ROLE} key: {label} answered 403 to one request and "
                    f"{kinds[False]} to another: the role must be checked before the request is read"
                )
        return None


@schemathesis.check
def no_key_is_refused(ctx, response, case):
    """Without a key every secured operation answers 401."""
    if ROLE != "none" or not _secured(case):
        return None
    # A method the route does not have (TRACE, …) is refused as such.
    if response.status_code == 405:
        return None
    # A path that matches no route at all says nothing about the route's auth.
    if response.status_code == 404 and case.meta is not None and case.meta.is_negative_at("path"):
        return None
    if response.status_code != 401:
        raise AssertionError(f"no key: {case.operation.label} answered {response.status_code}, not 401")
    return None
