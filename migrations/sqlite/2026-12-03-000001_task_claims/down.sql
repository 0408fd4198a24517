DROP INDEX tasks_leased;
DROP INDEX tasks_ready;
