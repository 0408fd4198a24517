DROP INDEX tasks_running_person;
DROP INDEX tasks_leased;
DROP INDEX tasks_ready;
