"""Drive the published Python client (PyPI scitex-orochi==0.13.0) against a hub.

Run by tests/hub/python_compat.rs with SCITEX_OROCHI_HOST / SCITEX_OROCHI_PORT /
SCITEX_OROCHI_TOKEN pointing at the hub under test. Uses only the client's public API
(connect, who, send, subscribe, unsubscribe, update_status, heartbeat, listen,
query_history, disconnect).

Protocol with the Rust side: one JSON object per stdout line, each with an "event" key.
At the sync points the script waits for one JSON line on stdin ({"expect": [contents]}).
Any failure prints {"event": "error", ...} and exits 1.

The client never consumes acks (reference-hub.md §13.15), so who() and query_history()
would read a stale ack. The script works around it the way a user would: it reads and
discards the ack of every frame it sent before calling them. To know how many acks are
owed, the client's socket is wrapped so the ids of sent frames are recorded.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback

from scitex_orochi import OrochiClient

NAME = "py-compat"
MACHINE = "py-machine"
ROLE = "py-role"
PROJECT = "py-project"
STEP_TIMEOUT = 15.0


class Failure(Exception):
    pass


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def wait_go() -> dict:
    loop = asyncio.get_running_loop()
    line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 30)
    if not line:
        raise Failure("stdin closed while waiting for the go line")
    return json.loads(line)


class TrackedSocket:
    """Wraps the client's websocket: records every frame the client sends."""

    def __init__(self, ws) -> None:
        self._ws = ws
        self.sent: list[dict] = []
        self.pending: list[str] = []  # ids still owed an ack
        self.ack_refs: list[str] = []  # refs of acks, in arrival order
        self.stray: list[dict] = []  # non-ack frames read while draining

    async def send(self, data, *args, **kwargs):
        frame = json.loads(data)
        self.sent.append(frame)
        self.pending.append(frame["id"])
        return await self._ws.send(data, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._ws, name)

    def __aiter__(self):
        return self._ws.__aiter__()

    def last_sent(self, kind: str) -> dict:
        return [f for f in self.sent if f["type"] == kind][-1]

    def sent_ids(self) -> list[str]:
        return [f["id"] for f in self.sent]

    async def drain(self) -> None:
        """Read frames until every sent frame has been acked (what a user must do)."""
        while self.pending:
            raw = await asyncio.wait_for(self._ws.recv(), STEP_TIMEOUT)
            frame = json.loads(raw)
            if frame.get("type") == "ack":
                ref = frame.get("payload", {}).get("ref")
                self.ack_refs.append(ref)
                if ref in self.pending:
                    self.pending.remove(ref)
                else:
                    raise Failure(f"ack for an unknown frame: {frame}")
            elif frame.get("type") == "error":
                raise Failure(f"hub answered with an error: {frame}")
            else:
                self.stray.append(frame)


def summary(msg) -> dict:
    return {"type": msg.type, "sender": msg.sender, "id": msg.id, "ts": msg.ts, "payload": msg.payload}


async def collect(stream, expect: list[str]) -> list[dict]:
    """Messages from listen() until every expected content has arrived."""
    got: list[dict] = []
    missing = set(expect)
    while missing:
        try:
            msg = await asyncio.wait_for(stream.__anext__(), STEP_TIMEOUT)
        except asyncio.TimeoutError:
            raise Failure(f"listen(): still waiting for {sorted(missing)}; got {got}")
        got.append(summary(msg))
        missing.discard(msg.content)
    return got


async def main() -> None:
    client = OrochiClient(NAME, channels=["#general"], machine=MACHINE, role=ROLE, project=PROJECT)
    emit("starting", uri=client.uri.split("?")[0], agent_id=client.agent_id)
    await asyncio.wait_for(client.connect(), STEP_TIMEOUT)  # register + its ack
    wire = TrackedSocket(client._ws)
    client._ws = wire

    # who() is reliable as the first call after connect.
    who_first = await asyncio.wait_for(client.who(), STEP_TIMEOUT)
    await wire.drain()
    emit("connected", who=who_first)
    await wait_go()

    # send: a channel message that also @mentions an agent not on the channel.
    await client.send("#general", "hello from python, @rust-other", metadata={"k": "v", "n": 1})
    await wire.drain()
    sent = wire.last_sent("message")
    emit("sent", id=sent["id"], ts=sent["ts"], frame=sent)

    # subscribe, update_status, heartbeat (collected metrics).
    await client.subscribe("#py-extra")
    await client.update_status(status="busy", current_task="compat testing")
    await client.heartbeat()
    await wire.drain()
    emit("state_sent", heartbeat=wire.last_sent("heartbeat")["payload"])

    # Listen for channel and mention deliveries sent by the Rust side.
    go = await wait_go()
    stream = client.listen().__aiter__()
    got = await collect(stream, go["expect"])
    emit("received", messages=got)

    await client.unsubscribe("#py-extra")
    await wire.drain()
    emit("unsubscribed")
    go = await wait_go()
    got = await collect(stream, go["expect"])
    emit("received", messages=got)

    # Fire-and-forget burst (no draining between frames), then read our own writes back.
    for i in range(3):
        await client.send("#py-burst", f"burst {i}")
    await client.update_status(current_task="burst done")
    await wire.drain()

    # History and presence, each after draining the acks owed so far.
    burst = await asyncio.wait_for(client.query_history("#py-burst", limit=10), STEP_TIMEOUT)
    await wire.drain()
    general = await asyncio.wait_for(client.query_history("#general", limit=10), STEP_TIMEOUT)
    await wire.drain()
    rust_only = await asyncio.wait_for(client.query_history("#rust-only", limit=10), STEP_TIMEOUT)
    await wire.drain()
    since = await asyncio.wait_for(client.query_history("#rust-only", since=go["since"], limit=10), STEP_TIMEOUT)
    await wire.drain()
    who_last = await asyncio.wait_for(client.who(), STEP_TIMEOUT)
    await wire.drain()
    emit("history", burst=burst, general=general, rust_only=rust_only, since=since, who=who_last)

    emit(
        "acks",
        sent_ids=wire.sent_ids(),
        sent_types=[f["type"] for f in wire.sent],
        ack_refs=wire.ack_refs,
        stray=wire.stray,
    )
    await client.disconnect()
    emit("done")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except BaseException as e:  # noqa: BLE001 - report everything to the Rust side
        emit("error", error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        sys.exit(1)
