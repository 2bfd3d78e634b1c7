"""The REST API's routers."""
