"""Stored charging profiles: the profiles kept per station with the last command about each
(`store`), the stations' answers (`answers`), what a station that came back still holds
(`checks`, asked per version by `asks`, compared by `compare`), the profiles that would take a
site allocator's place (`managed`), the commands left without an answer (`sweeper`); their
RPC methods, followers and the one OCPP call received (`rpc_profiles`, `follow_profiles`,
`action_reports`)."""
