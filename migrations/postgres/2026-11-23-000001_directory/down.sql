DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE user_values;
DROP TABLE users;
DROP TABLE scim_tokens;
