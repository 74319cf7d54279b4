-- The newest update a node refused (JSON: version, kind, name, reason), or
-- NULL; reported by the agent with every report.
ALTER TABLE nodes ADD COLUMN update_failure TEXT;
