DROP INDEX members_email;
DROP TABLE guests;
