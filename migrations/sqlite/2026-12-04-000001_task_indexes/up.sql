-- `tasks_due (status, run_after)` served no query: claims walk `tasks_ready` and
-- `tasks_leased`, and SQLite's plans for the admin lists and the hub counts use
-- `tasks_by_hub` (EXPLAIN QUERY PLAN, session 8). It only cost an index entry on every
-- queued reconcile, in the commit of the SCIM write that queued it.
DROP INDEX tasks_due;
