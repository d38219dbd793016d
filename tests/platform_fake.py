"""What the tests' fakes of the national platforms (tests/io-platform, tests/pagopa-backoffice)
share: every request received and every answer given checked against the project's own
description of the platform's API with openapi-core (a validator this project did not write),
each breach recorded; a rate past which calls are refused with 429; faults a test asks for; and
the control endpoints under /__fake that a test reads and drives (never validated, not part of
any contract).

A fake is a ContractApp with its routes, its keys, its answers and its own controls.
"""
import json
import logging
import re
import sys
import threading
import time

from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

KEY_HEADER = "Ocp-Apim-Subscription-Key"


class Recorder:
    """What a fake saw: calls, refusals for load, faults to play, breaches of the contract."""

    def __init__(self, rate):
        self.lock = threading.RLock()
        self.rate = rate
        self.faults = []
        self.window = []  # arrival times of the calls of the last second
        self.counts = {"calls": 0, "refused_for_load": 0, "max_per_second": 0}
        self.requests = []
        self.violations = []

    def admit(self):
        """Whether one more call fits in the rate: every call of the last second counts, the
        refused ones too (as a gateway counts them), and the most seen in a second is kept."""
        with self.lock:
            t = time.monotonic()
            self.window = [w for w in self.window if t - w < 1.0]
            self.window.append(t)
            self.counts["max_per_second"] = max(self.counts["max_per_second"], len(self.window))
            if len(self.window) > self.rate:
                self.counts["refused_for_load"] += 1
                return False
            return True

    def fault(self, operation):
        with self.lock:
            for f in self.faults:
                if f["count"] > 0 and f["operation"] in ("*", operation):
                    f["count"] -= 1
                    return dict(f)
        return None

    def state(self):
        with self.lock:
            return {
                "counts": dict(self.counts),
                "requests": self.requests[-2000:],
                "violations": list(self.violations),
            }


def problem(status, title, detail=None):
    body = {"title": title, "status": status}
    if detail:
        body["detail"] = detail
    return status, body


class ContractApp:
    """A WSGI app serving `routes` under `base`, checked against the description at `spec`.

    A subclass gives: owner(key) (who a key belongs to, or None), handle(operation, params,
    query, body, owner) -> (status, body), control(path, body) -> (status, body) or None for
    its own /__fake endpoints, and corrupt(body) (an answer broken on purpose). Problems are
    sent as `problem_type`.
    """

    problem_type = "application/json"
    unknown_key = "unknown key"

    def __init__(self, recorder, spec, base, routes):
        self.recorder = recorder
        self.base = base
        self.routes = routes
        # Problems are JSON under their own media type too.
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        self.openapi = OpenAPI.from_file_path(spec, config=config)

    # What a subclass gives.
    def owner(self, key):
        raise NotImplementedError

    def handle(self, operation, params, query, body, owner):
        raise NotImplementedError

    def control(self, path, body):
        return None

    def corrupt(self, body):
        return body

    def json_response(self, status, body):
        if body is None:
            return Response(status=status)
        mimetype = self.problem_type if status >= 400 else "application/json"
        return Response(json.dumps(body), status=status, mimetype=mimetype)

    def violation(self, what, request, error):
        detail = f"{what} {request.method} {request.path}: {error}"
        if getattr(error, "__cause__", None):
            detail += f" ({error.__cause__})"
        print("VIOLATION " + detail, file=sys.stderr, flush=True)
        with self.recorder.lock:
            self.recorder.violations.append(detail)

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/__fake/"):
            status, body = self.controls(request)
            return self.json_response(status, body)(environ, start_response)
        return self.api(request)(environ, start_response)

    def controls(self, request):
        path = request.path[len("/__fake"):]
        body = request.get_json(silent=True)
        body = {} if body is None else body
        r = self.recorder
        with r.lock:
            if path == "/state":
                return 200, self.state()
            if path == "/faults":
                if body.get("clear"):
                    r.faults.clear()
                else:
                    r.faults.append({"operation": "*", "count": 1, **body})
                return 200, {}
            answer = self.control(path, body)
        return answer if answer is not None else (404, {"error": "no such control"})

    def state(self):
        return self.recorder.state()

    def api(self, request):
        r = self.recorder
        # Counted on arrival, before any work: a slow validation must not bunch calls up.
        admitted = r.admit()
        openapi_request = WerkzeugOpenAPIRequest(request)
        try:
            self.openapi.validate_request(openapi_request)
        except Exception as error:  # noqa: BLE001 - every kind of breach is recorded
            self.violation("request", request, error)
            status, body = problem(400, "Bad Request", str(error)[:200])
            return self.answer(request, openapi_request, status, body)
        path = request.path[len(self.base):] if request.path.startswith(self.base) else None
        route = next(
            ((op, m.groupdict()) for method, pattern, op in self.routes
             if method == request.method and path is not None and (m := re.fullmatch(pattern, path))),
            None,
        )
        if route is None:
            return self.answer(request, openapi_request, *problem(404, "Not Found"))
        operation, params = route
        with r.lock:
            r.counts["calls"] += 1
            r.requests.append({"operation": operation, "id": params.get("id"), "at": time.time()})
        if not admitted:
            return self.answer(request, openapi_request, 429, None)
        owner = self.owner(request.headers.get(KEY_HEADER, ""))
        if owner is None:
            return self.answer(request, openapi_request, 401, self.key_problem())
        fault = r.fault(operation)
        if fault and not fault.get("after") and not fault.get("corrupt"):
            if fault.get("slow"):
                time.sleep(fault["slow"])
            else:
                status = fault["status"]
                body = None if status in (401, 403, 429) else problem(status, "Fault")[1]
                return self.answer(request, openapi_request, status, body)
        status, body = self.handle(operation, params, request.args, request.get_json(silent=True), owner)
        if fault and fault.get("corrupt") and isinstance(body, dict):
            body = self.corrupt(body)
        if fault and fault.get("after"):
            # Done, and the answer lost: late past the client's patience, or a server error.
            if fault.get("slow"):
                time.sleep(fault["slow"])
            else:
                status, body = fault["status"], problem(fault["status"], "Fault")[1]
        return self.answer(request, openapi_request, status, body)

    def key_problem(self):
        return problem(401, "Unauthorized", self.unknown_key)[1]

    def answer(self, request, openapi_request, status, body):
        response = self.json_response(status, body)
        try:
            self.openapi.validate_response(openapi_request, WerkzeugOpenAPIResponse(response))
        except Exception as error:  # noqa: BLE001
            self.violation("response", request, error)
        return response


def serve(app, port):
    """Serves `app` on 127.0.0.1:`port` (0: any), saying where, until killed."""
    # Each request's line would drown what matters: the breaches, printed on their own.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
