-- The definition a stack ran before its latest update (JSON: template,
-- parameters, files, registry; '' when none), which a cancelled or failed
-- update rolls back to; and a cancel asked of the running create or update
-- ('' none, 'rollback' or 'no_rollback'), read by the engine between resources.
ALTER TABLE heat_stacks ADD COLUMN previous TEXT NOT NULL DEFAULT '';
ALTER TABLE heat_stacks ADD COLUMN cancel TEXT NOT NULL DEFAULT '';
