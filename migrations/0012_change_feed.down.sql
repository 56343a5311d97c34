DROP INDEX policies_reusable_created_idx;
DROP TABLE account_counts;
ALTER TABLE config_state DROP COLUMN feed_floor;
DROP TABLE config_changes;
