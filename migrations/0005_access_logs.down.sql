DROP TABLE access_logs;
