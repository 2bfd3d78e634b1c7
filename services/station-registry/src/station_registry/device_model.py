"""An OCPP 2.0.1 station's device model: what NotifyReport describes and what GetVariables and
SetVariables answer, one row per component, variable and attribute; read by `list_variables`.

A station's values are what it last said: a NotifyReport part, a GetVariables result or a
SetVariables result the station accepted each overwrite the attribute they name. The secret
ones (`SecurityCtrlr.BasicAuthPassword`, and those `CSMS_SECRET_CONFIGURATION_KEYS` names)
are stored without their value. A station holds at most `REGISTRY_DEVICE_MODEL_MAX_ATTRIBUTES`
rows: a report's attributes past that are refused (`store_report`), the rest kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from prometheus_client import Counter
from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from csms_shared.ocpp.redaction import secret_variable
from csms_shared.ocpp.v201.datatypes import (
    Component,
    GetVariableResult,
    ReportData,
    SetVariableData,
    SetVariableResult,
    Variable,
)
from csms_shared.ocpp.v201.enums import (
    AttributeEnum,
    GetVariableStatusEnum,
    SetVariableStatusEnum,
)

from .db import variables
from .router import Ctx
from .security_log import record_refusal

REFUSED = Counter(
    "csms_registry_device_model_refused_total",
    "Attributes of a station's device model refused: the station held its cap",
)

# The columns a report describes; a GetVariables or SetVariables result changes `value` only.
_DESCRIBED = (
    "value",
    "mutability",
    "persistent",
    "constant",
    "data_type",
    "unit",
    "min_limit",
    "max_limit",
    "values_list",
    "supports_monitoring",
)


class VariableRow(TypedDict, total=False):
    """A row of `variables` to upsert (the key and `updated_at` always; the rest as known)."""

    charge_point_id: str
    component: str
    component_instance: str
    evse_id: int
    connector_id: int
    variable: str
    variable_instance: str
    attribute_type: str
    updated_at: datetime
    value: str | None
    mutability: str | None
    persistent: bool | None
    constant: bool | None
    data_type: str | None
    unit: str | None
    min_limit: float | None
    max_limit: float | None
    values_list: str | None
    supports_monitoring: bool | None


@dataclass(frozen=True)
class Key:
    """Which attribute a row is: its primary key without the charge point."""

    component: str
    component_instance: str
    evse_id: int
    connector_id: int
    variable: str
    variable_instance: str
    attribute_type: str

    @classmethod
    def of(cls, component: Component, variable: Variable, attribute: AttributeEnum | None) -> Key:
        evse = component.evse
        return cls(
            component=component.name,
            component_instance=component.instance or "",
            evse_id=evse.id if evse else 0,
            connector_id=(evse.connector_id or 0) if evse else 0,
            variable=variable.name,
            variable_instance=variable.instance or "",
            attribute_type=(attribute or AttributeEnum.ACTUAL).value,
        )

    def row(
        self, charge_point_id: str, at: datetime, value: str | None, secrets: frozenset[str]
    ) -> VariableRow:
        """The row to upsert: the key, the value, and when (a secret's value is never kept;
        `secrets` as `secret_keys` makes them)."""
        secret = secret_variable(self.component, self.variable, secrets)
        return VariableRow(
            charge_point_id=charge_point_id,
            component=self.component,
            component_instance=self.component_instance,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            variable=self.variable,
            variable_instance=self.variable_instance,
            attribute_type=self.attribute_type,
            updated_at=at,
            value=None if secret else value,
        )


def report_rows(
    charge_point_id: str, data: Iterable[ReportData], at: datetime, secrets: frozenset[str]
) -> list[VariableRow]:
    """The rows a NotifyReport part describes: one per attribute, the last of a repeated one."""
    rows: dict[Key, VariableRow] = {}
    for item in data:
        traits = item.variable_characteristics
        for attribute in item.variable_attribute:
            key = Key.of(item.component, item.variable, attribute.type)
            row = key.row(charge_point_id, at, attribute.value, secrets)
            row["mutability"] = attribute.mutability.value if attribute.mutability else None
            row["persistent"] = attribute.persistent
            row["constant"] = attribute.constant
            row["data_type"] = traits.data_type.value if traits else None
            row["unit"] = traits.unit if traits else None
            row["min_limit"] = _number(traits.min_limit if traits else None)
            row["max_limit"] = _number(traits.max_limit if traits else None)
            row["values_list"] = traits.values_list if traits else None
            row["supports_monitoring"] = traits.supports_monitoring if traits else None
            rows[key] = row
    return list(rows.values())


def read_rows(
    charge_point_id: str,
    results: Iterable[GetVariableResult],
    at: datetime,
    secrets: frozenset[str],
) -> list[VariableRow]:
    """The values a GetVariables answer shows: its Accepted results."""
    rows: dict[Key, VariableRow] = {}
    for result in results:
        if result.attribute_status is GetVariableStatusEnum.ACCEPTED:
            key = Key.of(result.component, result.variable, result.attribute_type)
            rows[key] = key.row(charge_point_id, at, result.attribute_value, secrets)
    return list(rows.values())


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


# A value the station took, now or at its next reboot.
_SET = frozenset({SetVariableStatusEnum.ACCEPTED, SetVariableStatusEnum.REBOOT_REQUIRED})


def set_rows(
    charge_point_id: str,
    requested: Iterable[SetVariableData],
    results: Iterable[SetVariableResult],
    at: datetime,
    secrets: frozenset[str],
) -> list[VariableRow]:
    """The values a SetVariables changed: each requested value whose result the station
    Accepted (or will apply at its next reboot)."""
    values = {
        Key.of(r.component, r.variable, r.attribute_type): r.attribute_value for r in requested
    }
    rows: dict[Key, VariableRow] = {}
    for result in results:
        key = Key.of(result.component, result.variable, result.attribute_type)
        if result.attribute_status in _SET and key in values:
            rows[key] = key.row(charge_point_id, at, values[key], secrets)
    return list(rows.values())


# The columns that name an attribute (the table's primary key).
_KEY = tuple(variables.primary_key.columns)


async def store(
    session: AsyncSession,
    rows: list[VariableRow],
    columns: Iterable[str] = ("value",),
    *,
    cap: int,
) -> int:
    """Upsert one station's `rows` (from `report_rows`, `read_rows` or `set_rows`): `columns`
    and the time overwrite what is stored; a row not yet known is created while the station
    holds fewer than `cap` rows. Returns how many new rows were refused for the cap."""
    if not rows:
        return 0
    cp_id = rows[0]["charge_point_id"]
    # Counted and added under a lock per station: parts of one report handled side by side
    # (or by two replicas) never add up past the cap.
    lock = func.hashtextextended("device-model:" + cp_id, 0)
    await session.execute(select(func.pg_advisory_xact_lock(lock)))
    held = await session.scalar(
        select(func.count()).select_from(variables).where(variables.c.charge_point_id == cp_id)
    )
    refused = 0
    if int(held or 0) + len(rows) > cap:
        rows, refused = await _within(session, rows, cap - int(held or 0))
    if rows:
        stmt = insert(variables)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=list(_KEY),
                set_={
                    **{c: stmt.excluded[c] for c in columns},
                    "updated_at": stmt.excluded.updated_at,
                },
            ),
            rows,
        )
    if refused:
        REFUSED.inc(refused)
    return refused


async def _within(
    session: AsyncSession, rows: list[VariableRow], room: int
) -> tuple[list[VariableRow], int]:
    """`rows` that update a stored attribute, and the first `room` new ones; how many new
    ones are left out."""
    keys = [tuple(row[c.name] for c in _KEY) for row in rows]  # type: ignore[literal-required]
    known = {tuple(r) for r in await session.execute(select(*_KEY).where(tuple_(*_KEY).in_(keys)))}
    kept: list[VariableRow] = []
    refused = 0
    for key, row in zip(keys, rows, strict=True):
        if key in known:
            kept.append(row)
        elif room > 0:
            kept.append(row)
            room -= 1
        else:
            refused += 1
    return kept, refused


async def store_report(
    session: AsyncSession,
    charge_point_id: str,
    data: Iterable[ReportData],
    at: datetime,
    secrets: frozenset[str],
    cap: int,
) -> int:
    """Store what a NotifyReport part describes; how many new attributes the cap refused."""
    rows = report_rows(charge_point_id, data, at, secrets)
    return await store(session, rows, _DESCRIBED, cap=cap)


async def device_model_full(ctx: Ctx, cp_id: str, refused: int, source: str) -> None:
    """Note a station's attributes refused for its cap: one security event a minute per
    station (a repeat raises its count), so a station that keeps reporting writes nothing
    new."""
    if refused:
        cap = ctx.settings.device_model_max_attributes
        reason = f"{source}: {refused} new attributes refused, the device model holds {cap}"
        await record_refusal(ctx, cp_id, "DeviceModelFull", reason, None)
