"""The judge process of a load worker: one recording judgement per request line (JSON in, JSON out).

Judging a 4 s call's recording (time-code decoding of every channel) takes 0.1-0.3 s of CPU.
In the Locust worker that would stall the event loop every other call's signalling and RTP
run on; here it runs in its own process, free of gevent, on whatever core is idle.

    stdin:  {"id": N, "request": JudgeRequest.to_json()}
    stdout: {"id": N, "requirement_ids": [...], "reasons": [...]}
"""

from __future__ import annotations

import json
import sys
from typing import Any

from harness.load.call import JudgeRequest, judge


def main() -> int:
    for line in sys.stdin:
        message: Any = None
        try:
            message = json.loads(line)
            ids, reasons = judge(JudgeRequest.from_json(message["request"]))
            reply = {"id": message["id"], "requirement_ids": list(ids), "reasons": list(reasons)}
        except Exception as exc:  # a judgement that fails must still answer, or the call's user waits
            reply = {"id": message.get("id") if isinstance(message, dict) else None,
                     "requirement_ids": ["REC-FILES-PRESENT"], "reasons": [f"judge failed: {exc!r}"]}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
