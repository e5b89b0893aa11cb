#!/usr/bin/env python3
"""Cold starts of a function binary, measured against the Lambda Runtime API.

Starts the binary RUNS times as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a
minimal Runtime API served here), hands it one API Gateway HTTP API v2 event and
records, from the moment of exec:
  init  - its first `GET /runtime/invocation/next` (process start + runtime and
          platform set-up, before any request),
  first - its response to that first event (init + the first request, which also
          opens the first PostgreSQL connection and Redis request).
  peak RSS - the process's VmHWM after that response (what Lambda's memory size must
          hold for a first request).
Then it kills the process and starts the next one. Prints one line per run and the
median and p90 of each. Only the Runtime API is emulated; everything the function
talks to (PostgreSQL, the Upstash endpoint, moto, the payment simulators) is a real
local service.

    scripts/coldstart.py BINARY 'GET /health' 20
    scripts/coldstart.py BINARY 'GET /api/articles?pagination[pageSize]=20' 20
    scripts/coldstart.py --all BINARY_DIR 20   # every function in functions/, each
                                               # with its invocation in first_calls()

--all reads a member's and a staff member's session tokens from COLDSTART_MEMBER_TOKEN
and COLDSTART_STAFF_TOKEN, and the media bucket from MEDIA_BUCKET.
"""

import http.server
import json
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


# Each function's first invocation: (route or event, the status a good answer has).
# An HTTP function gets a request a reader or staff member would send; an event
# function gets the event its source sends, shaped so that it does its usual set-up
# and first queries without needing a queued job. `None` as the status: an event
# function, whose answer only has to be a success.
def first_calls(member: str, staff: str, bucket: str) -> dict:
    as_member = {"authorization": f"Bearer {member}"}
    as_staff = {"authorization": f"Bearer {staff}"}
    no_records = {"Records": []}
    return {
        "health": ("GET /health", {}, 200),
        "openapi": ("GET /openapi.json", {}, 200),
        "console": ("GET /console/", {}, 200),
        "auth": ("GET /auth/me", as_member, 200),
        "admin": ("GET /admin/me", as_staff, 200),
        "content-api": ("GET /api/articles?pagination[pageSize]=20&populate[0]=author"
                        "&populate[1]=category&populate[2]=tags&sort=publishedAt:desc", {}, 200),
        "feeds": ("GET /rss.xml", {}, 200),
        "content-admin": ("GET /admin/articles", as_staff, 200),
        # An unsigned notification: read, its signature checked against the
        # provider's key (parsed at init) and refused.
        "payment-webhook": ("POST /webhooks/alipay", {}, 400),
        "newsletter": ("GET /newsletter/lists", {}, 200),
        "campaigns": ("GET /admin/campaigns", as_staff, 200),
        "commerce-api": ("GET /products", {}, 200),
        "dashboard": ("GET /admin/dashboard", as_staff, 200),
        "commerce-admin": ("GET /admin/orders", as_staff, 200),
        "fallback": ("GET /no-such-page", {}, 404),
        "scheduler": ({"source": "aws.events", "detail-type": "Scheduled Event",
                       "detail": {}}, None, None),
        "migrate": ({}, None, None),
        "mail-send": (no_records, None, None),
        "campaign-send": (no_records, None, None),
        "webhook-send": (no_records, None, None),
        "ses-events": ({"id": "coldstart", "source": "aws.ses", "detail-type": "Email Delivered",
                        "detail": {"eventType": "Delivery", "mail": {"messageId": "coldstart"}}},
                       None, None),
        # A new object nobody uploaded through the API: looked up, then ignored.
        "image-process": ({"source": "aws.s3", "detail-type": "Object Created",
                           "detail": {"bucket": {"name": bucket},
                                      "object": {"key": "uploads/coldstart.jpg"}}}, None, None),
    }


def api_gateway_event(route: str, headers: dict | None = None) -> dict:
    method, target = route.split(" ", 1)
    path, _, query = target.partition("?")
    raw_query = urllib.parse.quote(query, safe="=&")
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"host": "localhost", "user-agent": "coldstart", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "coldstart",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "coldstart",
            },
            "requestId": "coldstart",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "25/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """One invocation per process: the first `next` gets the event, later ones wait."""

    event = b""
    started = 0.0
    first_next = None
    response = None
    status = None
    done = threading.Event()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        cls = type(self)
        if cls.first_next is not None:
            # The process is killed while it waits here.
            type(self).done.wait(30)
            time.sleep(1)
            return
        cls.first_next = time.perf_counter() - cls.started
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "coldstart-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:coldstart")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.event)))
        self.end_headers()
        self.wfile.write(self.event)

    def do_POST(self):
        cls = type(self)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if "/response" in self.path:
            cls.response = time.perf_counter() - cls.started
            try:
                answer = json.loads(body)
                cls.status = answer.get("statusCode", "ok") if isinstance(answer, dict) else "ok"
            except ValueError:
                cls.status = "unreadable"
        else:
            cls.status = f"error: {body[:200]!r}"
            cls.response = time.perf_counter() - cls.started
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        cls.done.set()


def one_run(binary: str) -> tuple:
    # A fresh server per run, so a killed process's last request cannot take the
    # next process's event.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RuntimeApi.first_next = None
    RuntimeApi.response = None
    RuntimeApi.status = None
    RuntimeApi.done.clear()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/coldstart",
        "AWS_LAMBDA_LOG_STREAM_NAME": "coldstart",
    })
    RuntimeApi.started = time.perf_counter()
    process = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    peak = None
    try:
        if not RuntimeApi.done.wait(30):
            sys.exit(f"{binary} did not answer within 30 s")
        peak = peak_rss_mib(process.pid)
    finally:
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
    return RuntimeApi.first_next, RuntimeApi.response, RuntimeApi.status, peak


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def summary(name: str, values: list) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return f"{name} median {statistics.median(values) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms"


def measure(name: str, binary: str, event: dict, expected, runs: int) -> str:
    RuntimeApi.event = json.dumps(event).encode()
    inits, firsts, peaks = [], [], []
    for run in range(runs):
        init, first, status, peak = one_run(binary)
        if status != (expected if expected is not None else "ok"):
            sys.exit(f"{name}, run {run + 1}: the function answered {status}")
        inits.append(init)
        firsts.append(first)
        if peak is not None:
            peaks.append(peak)
        print(f"{name} run {run + 1}: init {init * 1000:.1f} ms, first response {first * 1000:.1f} ms")
    rss = f"; peak RSS {max(peaks):.1f} MiB" if peaks else ""
    return f"{summary('init', inits)}; {summary('first response', firsts)}{rss}"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--all":
        directory, runs = pathlib.Path(sys.argv[2]), int(sys.argv[3])
        calls = first_calls(os.environ["COLDSTART_MEMBER_TOKEN"],
                            os.environ["COLDSTART_STAFF_TOKEN"], os.environ["MEDIA_BUCKET"])
        crates = sorted(p.parent.name for p in pathlib.Path("functions").glob("*/Cargo.toml"))
        missing = [name for name in crates if name not in calls]
        if missing:
            sys.exit(f"no first call for {', '.join(missing)}: add it to first_calls()")
        for name in crates:
            call, headers, expected = calls[name]
            event = api_gateway_event(call, headers) if isinstance(call, str) else call
            print(f"coldstart {name}: " + measure(name, str(directory / name), event, expected, runs),
                  flush=True)
        return
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, route, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    name = os.path.basename(binary)
    line = measure(name, binary, api_gateway_event(route), 200, runs)
    print(f"{name} {route}: {line}")


if __name__ == "__main__":
    main()
