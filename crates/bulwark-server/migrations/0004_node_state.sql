-- Agents report the node's state (issue 9): connections the agent
-- attributed to a destination workload itself (identity to identity, no
-- address resolution) and more of the agent's counters.
CREATE TABLE workload_flows (
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    port BIGINT NOT NULL,
    protocol TEXT NOT NULL,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (src, dst, port, protocol)
);

ALTER TABLE nodes ADD COLUMN alerts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN queue_drops BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN flows_dropped BIGINT NOT NULL DEFAULT 0;

CREATE INDEX containers_node ON containers (node, running);
