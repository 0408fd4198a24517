DROP INDEX tasks_attention;
