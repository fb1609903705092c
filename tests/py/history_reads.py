"""Read the history of the channels named on the command line with the published Python client
(PyPI scitex-orochi==0.13.0) and print it as one JSON object: {channel: rows}.

Run by tests/hub/migrate_db.rs with SCITEX_OROCHI_HOST / SCITEX_OROCHI_PORT / SCITEX_OROCHI_TOKEN
pointing at the hub under test. It sends no frame before its reads, so no ack is owed.
"""

from __future__ import annotations

import asyncio
import json
import sys

from scitex_orochi import OrochiClient


async def main() -> None:
    client = OrochiClient("py-reader", channels=["#general"], machine="test-host", role="reader", project="orochi")
    await asyncio.wait_for(client.connect(), 30)
    rows = {}
    for channel in sys.argv[1:]:
        rows[channel] = await asyncio.wait_for(client.query_history(channel, limit=100), 30)
    await client.disconnect()
    print(json.dumps(rows))


asyncio.run(main())
