#!/usr/bin/env python3
"""Cold starts of a function binary, measured against the Lambda Runtime API.

Starts the binary RUNS times as Lambda would (AWS_LAMBDA_RUNTIME_API pointing at a
minimal Runtime API served here), hands it one API Gateway HTTP API v2 event and
records, from the moment of exec:
  init  - its first `GET /runtime/invocation/next` (process start + runtime and
          platform set-up, before any request),
  first - its response to that first event (init + the first request, which also
          opens the first PostgreSQL connection and Redis request).
Then it kills the process and starts the next one. Prints one line per run and the
median and p90 of each. Only the Runtime API is emulated; everything the function
talks to (PostgreSQL, the Upstash endpoint) is the real local service.

    scripts/coldstart.py BINARY 'GET /health' 20
    scripts/coldstart.py BINARY 'GET /api/articles?pagination[pageSize]=20' 20
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse


def api_gateway_event(route: str) -> dict:
    method, target = route.split(" ", 1)
    path, _, query = target.partition("?")
    raw_query = urllib.parse.quote(query, safe="=&")
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": {"host": "localhost", "user-agent": "coldstart"},
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
                cls.status = json.loads(body).get("statusCode")
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
    try:
        if not RuntimeApi.done.wait(30):
            sys.exit(f"{binary} did not answer within 30 s")
    finally:
        process.kill()
        process.wait()
        server.shutdown()
        server.server_close()
    return RuntimeApi.first_next, RuntimeApi.response, RuntimeApi.status


def summary(name: str, values: list) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
    return f"{name} median {statistics.median(values) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, route, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    RuntimeApi.event = json.dumps(api_gateway_event(route)).encode()
    inits, firsts = [], []
    for run in range(runs):
        init, first, status = one_run(binary)
        if status != 200:
            sys.exit(f"run {run + 1}: the function answered {status}")
        inits.append(init)
        firsts.append(first)
        print(f"run {run + 1}: init {init * 1000:.1f} ms, first response {first * 1000:.1f} ms")
    name = os.path.basename(binary)
    print(f"{name} {route}: {summary('init', inits)}; {summary('first response', firsts)}")


if __name__ == "__main__":
    main()
