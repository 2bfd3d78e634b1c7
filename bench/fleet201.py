"""The fleet speaking OCPP 2.0.1: the same CPs, rates and checks as `fleet.SimFleet`, with
2.0.1's messages (BootNotification with a chargingStation, StatusNotification per EVSE,
transactions as TransactionEvent Started / Updated / Ended with our own string ids)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import asyncpg

from .cp import SUBPROTOCOL_201, SimChargePoint
from .fleet import SimFleet, Transaction, Verification, ocpp_now

SAMPLES_PER_UPDATE = 2  # energy register and power, one meter row each
_numbers = itertools.count(1)


async def answer_201(action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """What a well-behaved 2.0.1 station answers to the central system's commands."""
    if action == "GetBaseReport":
        return {"status": "Accepted"}
    if action == "GetLocalListVersion":
        return {"versionNumber": 0}
    if action == "UnlockConnector":
        return {"status": "Unlocked"}
    return {"status": "Accepted"}


def _sample(wh: int, context: str) -> dict[str, Any]:
    return {
        "timestamp": ocpp_now(),
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            },
            {"value": 7200, "context": context, "measurand": "Power.Active.Import"},
        ],
    }


class SimFleet201(SimFleet):
    """2.0.1 stations; `transactions` are keyed by a number of ours, each with the string id
    the station chose (`station_ids`)."""

    def __init__(self, gateways: list[str], count: int, **kwargs: Any) -> None:
        super().__init__(gateways, count, **kwargs)
        for cp in self.cps:
            cp.subprotocol = SUBPROTOCOL_201
            if cp.responder is not None:
                cp.responder = answer_201
        self.station_ids: dict[int, str] = {}

    async def boot(self, cp: SimChargePoint) -> None:
        await cp.call(
            "BootNotification",
            {
                "reason": "PowerUp",
                "chargingStation": {
                    "vendorName": "BenchCo",
                    "model": "Sim-201",
                    "serialNumber": cp.cp_id[-25:],
                    "firmwareVersion": "1.0.0",
                },
            },
            self.call_timeout,
        )
        await self.status(cp, "Occupied" if cp.state["tx"] is not None else "Available")
        cp.state["booted"] = time.monotonic()

    async def status(self, cp: SimChargePoint, status: str) -> None:
        """StatusNotification of EVSE 1's connector 1 (2.0.1's statuses)."""
        await cp.call(
            "StatusNotification",
            {"timestamp": ocpp_now(), "connectorStatus": status, "evseId": 1, "connectorId": 1},
            self.call_timeout,
        )

    async def authorize(self, cp: SimChargePoint, id_tag: str) -> None:
        await cp.call(
            "Authorize", {"idToken": {"idToken": id_tag, "type": "ISO14443"}}, self.call_timeout
        )

    def _event(self, cp: SimChargePoint, kind: str, tx: Transaction, **extra: Any) -> Any:
        seq = cp.state.setdefault("seq", {})
        number = seq.get(tx.transaction_id, 0)
        seq[tx.transaction_id] = number + 1
        return {
            "eventType": kind,
            "timestamp": ocpp_now(),
            "triggerReason": {"Started": "Authorized", "Ended": "StopAuthorized"}.get(
                kind, "MeterValuePeriodic"
            ),
            "seqNo": number,
            "transactionInfo": {"transactionId": self.station_ids[tx.transaction_id]},
            **extra,
        }

    async def start_transaction(self, cp: SimChargePoint, authorize: bool = True) -> Transaction:
        """Authorize (optional) and TransactionEvent Started on EVSE 1 with the register."""
        id_tag = f"TAG{int(cp.cp_id.rsplit('-', 1)[1]) % 500:05d}"
        if authorize:
            await self.authorize(cp, id_tag)
        number = next(_numbers)
        tx = Transaction(number, cp.cp_id, id_tag, cp.state["energy"])
        self.station_ids[number] = f"{cp.cp_id}-{number}"
        started = self._event(
            cp,
            "Started",
            tx,
            evse={"id": 1, "connectorId": 1},
            idToken={"idToken": id_tag, "type": "ISO14443"},
            meterValue=[_sample(tx.meter_start, "Transaction.Begin")],
        )
        await self._deliver(cp, "TransactionEvent", started)
        self.transactions[number] = tx
        cp.state["tx"] = tx
        return tx

    async def meter_values(self, cp: SimChargePoint, reliable: bool = False) -> None:
        """One TransactionEvent Updated with the register and the power (2.0.1 sends a
        transaction's meter values in its events)."""
        tx: Transaction = cp.state["tx"]
        cp.state["energy"] += 5 + tx.meter_values % 40
        update = self._event(
            cp, "Updated", tx, meterValue=[_sample(cp.state["energy"], "Sample.Periodic")]
        )
        if reliable:
            await self._deliver(cp, "TransactionEvent", update)
        else:
            await cp.call("TransactionEvent", update, self.call_timeout)
        tx.meter_values += 1

    async def stop_transaction(self, cp: SimChargePoint) -> Transaction:
        """TransactionEvent Ended with the register's reading."""
        tx: Transaction = cp.state["tx"]
        cp.state["energy"] += 1
        meter_stop = cp.state["energy"]
        ended = self._event(
            cp,
            "Ended",
            tx,
            idToken={"idToken": tx.id_tag, "type": "ISO14443"},
            meterValue=[_sample(meter_stop, "Transaction.End")],
        )
        ended["transactionInfo"]["stoppedReason"] = "Local"
        await self._deliver(cp, "TransactionEvent", ended)
        tx.meter_stop = meter_stop
        cp.state["tx"] = None
        return tx

    async def verify(self, dsn: str, settle: float = 60.0) -> Verification:
        """Every transaction once, by the station's id, with the right energy; every
        acknowledged meter row stored (the Begin and End rows count too)."""
        ours = {self.station_ids[n]: tx for n, tx in self.transactions.items()}
        acked = sum(tx.meter_values + 1 + (tx.meter_stop is not None) for tx in ours.values())
        acked_rows = acked * SAMPLES_PER_UPDATE
        conn = await asyncpg.connect(dsn)
        try:
            deadline = time.monotonic() + settle
            rows: list[Any] = []
            meter_rows = 0
            while True:
                rows = await conn.fetch(
                    "SELECT id, station_transaction_id, charge_point_id, meter_start,"
                    " meter_stop, energy_wh FROM sessions.transactions"
                    " WHERE station_transaction_id = ANY($1::text[])",
                    list(ours),
                )
                meter_rows = await conn.fetchval(
                    "SELECT count(*) FROM sessions.meter_values"
                    " WHERE transaction_id = ANY($1::bigint[])",
                    [r["id"] for r in rows],
                )
                if meter_rows >= acked_rows or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
        finally:
            await conn.close()
        seen = {r["station_transaction_id"]: r for r in rows}
        problems: list[str] = []
        missing = wrong = open_ = 0
        for station_id, tx in ours.items():
            row = seen.get(station_id)
            if row is None:
                missing += 1
                problems.append(f"transaction {station_id} is not in the DB")
                continue
            energy = None if tx.meter_stop is None else tx.meter_stop - tx.meter_start
            if (row["meter_start"], row["meter_stop"], row["energy_wh"]) != (
                tx.meter_start,
                tx.meter_stop,
                energy,
            ):
                wrong += 1
                problems.append(f"transaction {station_id}: {dict(row)} vs {tx}")
            if tx.meter_stop is None:
                open_ += 1
        return Verification(
            started=len(ours),
            in_db=len(ours) - missing,
            missing=missing,
            duplicates=max(0, len(rows) - len(seen)),
            wrong=wrong,
            open=open_,
            meter_rows_acked=acked_rows,
            meter_rows_in_db=int(meter_rows),
            problems=problems[:10],
        )
