-- The layers of a scanned image (JSON list of {index, diff_id, created_by}),
-- and the layer (diff id) that brought each finding's package.
ALTER TABLE images ADD COLUMN layers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE findings ADD COLUMN layer TEXT;
