-- A claim walks the waiting tasks in due order and stops at the first it may take, instead of
-- reading every task of the hub and sorting them (about 20 ms per claim with 20,000 tasks in
-- the table: the engine's claims alone filled a core). Expired leases have their own index.
CREATE INDEX tasks_ready ON tasks (run_after, seq) WHERE status IN ('pending', 'deferred');
CREATE INDEX tasks_leased ON tasks (lease_until) WHERE status = 'running';
