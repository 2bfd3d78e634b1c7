"""The OCPI HTTP interface parties call: versions, then each module of 2.2.1."""
