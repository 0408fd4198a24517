DROP TABLE task_calls;
DROP TABLE hub_assets;
DROP TABLE tasks;
DROP TABLE members;
DROP TABLE grants;
DROP TABLE hubs;
