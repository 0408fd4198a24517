-- A claim walks the waiting tasks in due order and stops at the first it may take, instead of
-- reading every task of the hub and sorting them (about 20 ms per claim with 20,000 tasks in
-- the table: the engine's claims alone filled a core). Expired leases have their own index.
CREATE INDEX tasks_ready ON tasks (run_after, seq) WHERE status IN ('pending', 'deferred');
CREATE INDEX tasks_leased ON tasks (lease_until) WHERE status = 'running';
-- "Does this person have a task running?" (a claim's NOT EXISTS) probes this small index.
-- Without it PostgreSQL, with statistics from when the table was small, answered the probe
-- by intersecting the hub's whole task list with the user's: 10 s per claim at 10,000 tasks.
CREATE INDEX tasks_running_person ON tasks (hub_seq, user_id) WHERE status = 'running';
