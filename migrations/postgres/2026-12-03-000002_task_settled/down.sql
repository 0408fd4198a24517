ALTER TABLE tasks DROP COLUMN settled_claim;
