"""The envelope, the topology, the consumer runtime and RPC."""
