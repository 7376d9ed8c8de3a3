"""A stand-in for Gate for `slackops-relay demo`: one sample run waiting at a Manual Judgment, and Echo's
events for it."""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

APPLICATION = "shop"
CHANNEL = "#deploys"
EXECUTION_ID = "01DEMORUN0000000000000000"
BAKE_STAGE_ID = "01DEMOBAKE000000000000000"
JUDGMENT_STAGE_ID = "01DEMOJUDGMENT00000000000"
STAGE_PATH = re.compile(r"^/pipelines/([^/]+)/stages/([^/]+)$")
RUN_PATH = re.compile(r"^/pipelines/([^/]+)$")


def sample_execution(now: float) -> dict[str, Any]:
    """A pipeline whose bake has finished and whose Manual Judgment is waiting, notifying #deploys."""
    started = int(now * 1000) - 180_000
    notify = [{"type": "slack", "address": CHANNEL, "level": "pipeline",
               "when": ["pipeline.starting", "pipeline.complete", "pipeline.failed"]}]
    judgment_notify = [{"type": "slack", "address": CHANNEL, "level": "stage",
                        "when": ["manualJudgment", "manualJudgmentContinue", "manualJudgmentStop"]}]
    return {
        "id": EXECUTION_ID, "type": "PIPELINE", "application": APPLICATION, "name": "Deploy to production",
        "status": "RUNNING", "startTime": started, "endTime": None, "buildTime": started,
        "pipelineConfigId": "demo-pipeline", "notifications": notify, "canceled": False,
        "trigger": {"type": "manual", "user": "alice@example.com", "parameters": {"version": "1.4.2"}},
        "stages": [
            {"id": BAKE_STAGE_ID, "refId": "1", "type": "bake", "name": "Bake image", "status": "SUCCEEDED",
             "startTime": started, "endTime": started + 120_000, "context": {}, "requisiteStageRefIds": []},
            {"id": JUDGMENT_STAGE_ID, "refId": "2", "type": "manualJudgment", "name": "Approve production",
             "status": "RUNNING", "startTime": started + 121_000, "endTime": None,
             "requisiteStageRefIds": ["1"],
             "context": {"instructions": "Canary is green. Promote 1.4.2 to production?",
                         "judgmentInputs": [], "failPipeline": True, "sendNotifications": True,
                         "notifications": judgment_notify}},
        ],
    }


def echo_event(kind: str, status: str, execution: dict[str, Any], stage_id: str | None = None) -> dict:
    """An event as Echo posts it: `orca:<kind>:<status>` carrying the execution."""
    content: dict[str, Any] = {"execution": execution, "executionId": execution["id"]}
    if stage_id:
        stage = next(s for s in execution["stages"] if s["id"] == stage_id)
        content.update(context=copy.deepcopy(stage["context"]), stageId=stage_id, name=stage["name"],
                       isSynthetic=False, startTime=stage["startTime"], endTime=stage["endTime"],
                       standalone=False, canceled=False)
    created = str(int(time.time() * 1000))
    return {"details": {"source": "orca", "type": f"orca:{kind}:{status}", "created": created,
                        "application": execution["application"], "requestHeaders": {}},
            "content": content, "eventId": str(uuid.uuid4())}


class DemoGate:
    """Gate's GET /pipelines/{id}, PATCH /pipelines/{id}/stages/{stageId} and GET /auth/user for the sample
    run, on 127.0.0.1. A judgment is acted on at once, as Orca would a moment later."""

    def __init__(self) -> None:
        self.execution = sample_execution(time.time())
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-gate", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> DemoGate:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.execution)

    def judge(self, execution_id: str, stage_id: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Record the judgment on the stage and let the run finish the way Orca would."""
        with self.lock:
            if execution_id != self.execution["id"]:
                return None
            stage = next((s for s in self.execution["stages"] if s["id"] == stage_id), None)
            if stage is None:
                return None
            verdict = str(body.get("judgmentStatus") or "").lower()
            now = int(time.time() * 1000)
            stage["context"].update(body)
            stage["context"].update(judgmentStatus=verdict, lastModifiedBy="anonymous")
            stage.update(status="SUCCEEDED" if verdict == "continue" else "TERMINAL", endTime=now)
            self.execution.update(status="SUCCEEDED" if verdict == "continue" else "TERMINAL", endTime=now)
            return copy.deepcopy(self.execution)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if self.path == "/auth/user":
                    self._answer(200, {"username": "anonymous", "roles": []})
                    return
                match = RUN_PATH.match(self.path)
                if match and match[1] == gate.execution["id"]:
                    self._answer(200, gate.snapshot())
                    return
                self._answer(404, {"message": "Execution not found"})

            def do_PATCH(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                match = STAGE_PATH.match(self.path)
                answer = gate.judge(match[1], match[2], body) if match else None
                if answer is None:
                    self._answer(404, {"message": "Stage not found"})
                else:
                    self._answer(200, answer)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler
