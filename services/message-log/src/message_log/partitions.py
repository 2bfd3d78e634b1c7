"""Day partitions of `messages.records`: created ahead, dropped whole past retention."""

from __future__ import annotations

from csms_shared.partitions import PartitionedTable, Period

from .db import SCHEMA

# Yesterday's partition too: late records of a gateway whose clock lags.
RECORDS = PartitionedTable(SCHEMA, "records", Period.DAY, behind=1)

# By day, as the writer, the tests and the benchmarks name them.
partition_name = RECORDS.partition_name
day_of = RECORDS.start_of
create_sql = RECORDS.create_sql
expired = RECORDS.expired
wanted = RECORDS.wanted
existing = RECORDS.existing
maintain = RECORDS.maintain
