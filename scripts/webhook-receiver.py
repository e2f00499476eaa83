#!/usr/bin/env python3
"""A loopback webhook receiver for scripts/bench-webhook.sh: answers every
POST with 204, counts requests and events (a JSON array counts its
elements), and reports them at GET /count as JSON, with the monotonic times
of the first and last event; GET /reset starts counting again."""
import asyncio
import json
import sys
import time

state = {"requests": 0, "events": 0, "first": None, "last": None}


async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split(" ")[:2]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            body = await reader.readexactly(length) if length else b""
            if method == "GET" and path == "/reset":
                state.update(requests=0, events=0, first=None, last=None)
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            elif method == "GET" and path == "/count":
                out = json.dumps(state).encode()
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(out), out))
            else:
                parsed = json.loads(body) if body else None
                now = time.monotonic()
                state["requests"] += 1
                state["events"] += len(parsed) if isinstance(parsed, list) else 1
                state["first"] = state["first"] or now
                state["last"] = now
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
