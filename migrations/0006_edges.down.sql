DROP TABLE edge_instances;
