"""A stand-in for the Lambda runtime, for tests: invoke a handler, then freeze, as Lambda does.

    python tests/lambda_runtime.py MODULE_DIR MODULE INVOCATIONS_JSON

INVOCATIONS_JSON is a list of {"trace_header": ..., "event": ...}. Before each
invocation _X_AMZN_TRACE_ID is set, as Lambda sets it; after each one a JSON
line is printed and the process stops itself with SIGSTOP until the test
resumes it. Nothing in this process runs while it is stopped.
"""

import importlib
import json
import os
import signal
import sys
import traceback


class Context:
    def __init__(self, number):
        self.aws_request_id = f"request-{number}"
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "fn")
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"


def main():
    module_dir, module_name, invocations = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    sys.path.insert(0, module_dir)
    handler = importlib.import_module(module_name).handler
    for number, invocation in enumerate(invocations):
        os.environ["_X_AMZN_TRACE_ID"] = invocation["trace_header"]
        try:
            result = {"result": handler(invocation.get("event", {}), Context(number))}
        except Exception as exc:
            result = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc(limit=1)}
        print(json.dumps({"invocation": number, **result}), flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)  # the runtime freezes the process between invocations
    return 0


if __name__ == "__main__":
    sys.exit(main())
