DROP TABLE access_group_service_tokens;
DROP TABLE policy_groups;
DROP TABLE access_groups;
