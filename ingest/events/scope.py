"""What one intake may take in: its site's messages, for the lanes the site has (issue 18: events for sites
and lanes that do not exist, or for another site, used to be accepted with the one shared token). A message
outside the scope is not an error of the transport: it goes to dead_letters with the reason, like any
message that fails validation, so an integrator can see what was refused and why."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from ingest.events.validate import Accepted, DeadLetter


@dataclass(frozen=True)
class Scope:
    """`site_id`: the one site this intake serves (a site config runs its own intake). `lanes`: the lane ids
    the site has (None: any lane, for a site that lists none)."""

    site_id: str
    lanes: frozenset[str] | None = None

    def check(self, result: Accepted | DeadLetter, token_lanes: Collection[str] | None = None
              ) -> Accepted | DeadLetter:
        """`result` if it is in scope (and, with `token_lanes`, among the lanes the sender's token may report),
        else a DeadLetter saying why."""
        if not isinstance(result, Accepted):
            return result
        message = result.message
        reason = None
        lane = getattr(message, "lane_id", None)
        if message.site_id != self.site_id:
            reason = f"site_id {message.site_id!r} is not this intake's site {self.site_id!r}"
        elif lane is not None and self.lanes is not None and lane not in self.lanes:
            reason = f"unknown lane {lane!r}: site {self.site_id!r} has {', '.join(sorted(self.lanes)) or 'none'}"
        elif lane is not None and token_lanes is not None and lane not in token_lanes:
            reason = f"lane {lane!r} is outside this token's lanes ({', '.join(sorted(token_lanes))})"
        if reason is None:
            return result
        return DeadLetter.of(result.source, reason, message.model_dump_json(), message.message_id)
