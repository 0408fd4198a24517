DROP INDEX tasks_by_user;
CREATE INDEX tasks_by_user ON tasks (user_id);
