-- Orchestration: what a resource's create is about to make, recorded before the
-- service is called, so that after a crash between the call and the recording of
-- its physical id the engine can find the thing made and adopt it (no orphan);
-- the parent of a nested stack (a ResourceGroup's or a template resource's); and
-- the files and resource_registry a stack was created with, which its template
-- resources and nested stacks read (JSON maps).
ALTER TABLE heat_resources ADD COLUMN intent TEXT NOT NULL DEFAULT '';
ALTER TABLE heat_stacks ADD COLUMN parent TEXT NOT NULL DEFAULT '';
ALTER TABLE heat_stacks ADD COLUMN files TEXT NOT NULL DEFAULT '{}';
ALTER TABLE heat_stacks ADD COLUMN registry TEXT NOT NULL DEFAULT '{}';
