-- Quota class limits (os-quota-class-sets). The `default` class holds the
-- operator's changes to the default quotas every project without an override of
-- its own gets; absent = Nova's built-in default.
CREATE TABLE compute_quota_classes (
    class_name TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    PRIMARY KEY (class_name, resource)
);
