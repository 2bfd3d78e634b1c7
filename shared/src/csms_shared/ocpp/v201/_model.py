"""The base model and field types of the generated OCPP 2.0.1 models (hand-written, not generated).

See the package docstring for the rules they implement and the differences from the schemas.
"""

from typing import Annotated, Any, ClassVar

from pydantic import (
    AllowInfNan,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictInt,
    ValidationInfo,
    field_validator,
)

from .._base import JsonObject, OcppModel
from .._fields import INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, OcppDateTime, String

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "Int32",
    "Integer",
    "Number",
    "OcppDateTime",
    "String",
    "V201Model",
    "WholeFloatsAsInt",
]


def _whole_float_as_int(value: Any) -> Any:
    # The 2.0.1 schemas are draft-06, where 1.0 is an integer (draft-04, of 1.6, said it is not).
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# Last in an `Annotated` integer, so that it runs before the int and its bounds are checked.
WholeFloatsAsInt = BeforeValidator(_whole_float_as_int)

# A JSON integer (1.0 too, as draft-06 reads it), at most 64-bit (see `_fields.Integer` for why);
# never a string or a boolean. A schema minimum / maximum replaces the 64-bit bound it tightens.
Integer = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX), WholeFloatsAsInt]

# A connector or EVSE number: 32-bit (see `_fields.Int32` for why).
Int32 = Annotated[StrictInt, Field(ge=INT32_MIN, le=INT32_MAX), WholeFloatsAsInt]

# A JSON number (OCPP "decimal"): an int or a finite float, never a string or a boolean.
Number = Annotated[float, Strict(), AllowInfNan(False)]


class V201Model(OcppModel):
    """Base of the 2.0.1 models: JSON null refused where the schema has a type; payload as given."""

    # Assigning None to a field would otherwise reach to_payload() as a JSON null.
    model_config = ConfigDict(validate_assignment=True)

    # Properties the schema gives no type (DataTransfer `data`): JSON null is a value there.
    json_null_allowed: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, /, **data: Any) -> None:
        # Keyword construction in Python: None stands for an absent optional field.
        super().__init__(**{key: value for key, value in data.items() if value is not None})

    # Mark this __init__ as pydantic's own so that `model_validate` (the wire path) does not call
    # it and a null there still reaches `_refuse_null`; test_models_vs_schemas_v201 guards this.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.json_null_allowed:
            raise ValueError("null is not allowed; leave the field out instead")
        return value

    def to_payload(self) -> JsonObject:
        """The JSON-ready payload as the spec spells it: the fields given, no defaults added.

        Unlike `exclude_none`, this keeps a JSON null where the schema allows one (DataTransfer
        `data`, vendor properties of `CustomData`); None never gets into a typed field.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)
