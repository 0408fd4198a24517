CREATE INDEX tasks_due ON tasks (status, run_after);
