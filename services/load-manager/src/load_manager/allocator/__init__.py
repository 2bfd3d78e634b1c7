"""The allocator as a service: the pure core (`load_manager.allocation`) run against schema
`loads`, fed by the bus's events, sending its limits through the command path.

`store` reads a site's `SiteState` from its rows and writes it back; `rounds` runs one round
under the site's lock (read, apply the events, plan, queue the SetChargingProfiles, write,
announce); `follow` turns the suite's events into allocation events; `timer` runs every
site's round on a timer (time passing: underuse caps, offline grace, answers never received).
"""
