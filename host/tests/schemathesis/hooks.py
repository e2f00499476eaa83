"""Schemathesis hooks for Trailmark's API (loaded with SCHEMATHESIS_HOOKS).

`POST /` speaks the AWS JSON 1.1 protocol: its bodies are JSON under the
media type `application/x-amz-json-1.1`, which schemathesis does not know.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-amz-json-1.1")
def amz_json_body(ctx, value):
    return json.dumps(value).encode()


@schemathesis.deserializer("application/x-amz-json-1.1")
def amz_json_answer(ctx, response):
    return json.loads(response.content)
