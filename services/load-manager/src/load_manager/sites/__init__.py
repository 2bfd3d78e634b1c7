"""Sites: trees of nodes with their limits (`tree`, `store`), and the stations on their nodes
with their settings; their RPC methods (`rpc_sites`, `rpc_stations`)."""
