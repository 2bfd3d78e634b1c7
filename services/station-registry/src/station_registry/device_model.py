"""An OCPP 2.0.1 station's device model: what NotifyReport describes and what GetVariables and
SetVariables answer, one row per component, variable and attribute; read by `list_variables`.

A station's values are what it last said: a NotifyReport part, a GetVariables result or a
SetVariables result the station accepted each overwrite the attribute they name. The secret
ones (`SecurityCtrlr.BasicAuthPassword`) are stored without their value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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

# (component, variable) in lower case whose values are never stored.
SECRET_VARIABLES = frozenset({("securityctrlr", "basicauthpassword")})

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

    @property
    def secret(self) -> bool:
        return (self.component.lower(), self.variable.lower()) in SECRET_VARIABLES

    def row(self, charge_point_id: str, at: datetime, value: str | None) -> VariableRow:
        """The row to upsert: the key, the value, and when (a secret's value is never kept)."""
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
            value=None if self.secret else value,
        )


def report_rows(
    charge_point_id: str, data: Iterable[ReportData], at: datetime
) -> list[VariableRow]:
    """The rows a NotifyReport part describes: one per attribute, the last of a repeated one."""
    rows: dict[Key, VariableRow] = {}
    for item in data:
        traits = item.variable_characteristics
        for attribute in item.variable_attribute:
            key = Key.of(item.component, item.variable, attribute.type)
            row = key.row(charge_point_id, at, attribute.value)
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
    charge_point_id: str, results: Iterable[GetVariableResult], at: datetime
) -> list[VariableRow]:
    """The values a GetVariables answer shows: its Accepted results."""
    rows: dict[Key, VariableRow] = {}
    for result in results:
        if result.attribute_status is GetVariableStatusEnum.ACCEPTED:
            key = Key.of(result.component, result.variable, result.attribute_type)
            rows[key] = key.row(charge_point_id, at, result.attribute_value)
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
            rows[key] = key.row(charge_point_id, at, values[key])
    return list(rows.values())


async def store(
    session: AsyncSession, rows: list[VariableRow], columns: Iterable[str] = ("value",)
) -> None:
    """Upsert `rows` (from `report_rows`, `read_rows` or `set_rows`): `columns` and the time
    overwrite what is stored; a row not yet known is created."""
    if not rows:
        return
    stmt = insert(variables)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=list(variables.primary_key.columns),
            set_={**{c: stmt.excluded[c] for c in columns}, "updated_at": stmt.excluded.updated_at},
        ),
        rows,
    )


async def store_report(
    session: AsyncSession, charge_point_id: str, data: Iterable[ReportData], at: datetime
) -> None:
    """Store what a NotifyReport part describes."""
    await store(session, report_rows(charge_point_id, data, at), _DESCRIBED)
