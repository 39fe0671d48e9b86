MODEL (name staging.events, kind FULL);
SELECT event_id, kind FROM landing.events
