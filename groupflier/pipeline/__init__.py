"""The one pipeline for everything the service sends: group deliveries, system texts and
pushes (SPEC §3 "Delivery guarantees"). ``rows`` is the engine, ``handoff`` its log."""
