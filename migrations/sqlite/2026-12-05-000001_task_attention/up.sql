-- The tasks that need an owner (held removals, failed tasks), by hub: a hub's counts read
-- them here instead of walking the hub's whole task history in `tasks_by_hub` (tasks are
-- kept, so that history only grows). Waiting and running tasks are counted through
-- `tasks_ready` and `tasks_leased` (store::hubs::counts). A task enters this index only
-- when it is held or fails, so queueing writes pay nothing for it.
CREATE INDEX tasks_attention ON tasks (hub_seq, status) WHERE status IN ('held', 'failed');
