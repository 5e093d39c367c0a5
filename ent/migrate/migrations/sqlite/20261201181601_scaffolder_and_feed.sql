-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_changes" table
CREATE TABLE `new_changes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `at` datetime NOT NULL, `type` text NOT NULL, `ref` text NOT NULL, `kind` text NOT NULL DEFAULT (''), `owner` text NOT NULL DEFAULT (''), `previous_owner` text NOT NULL DEFAULT (''), `location` text NOT NULL, `revision` text NOT NULL DEFAULT (''), `reason` text NOT NULL DEFAULT (''), `fields` json NULL);
-- Copy rows from old table "changes" to new temporary table "new_changes"
INSERT INTO `new_changes` (`id`, `at`, `type`, `ref`, `location`, `revision`, `reason`, `fields`) SELECT `id`, `at`, `type`, `ref`, `location`, `revision`, `reason`, `fields` FROM `changes`;
-- Drop "changes" table after copying rows
DROP TABLE `changes`;
-- Rename temporary table "new_changes" to "changes"
ALTER TABLE `new_changes` RENAME TO `changes`;
-- Create index "change_ref" to table: "changes"
CREATE INDEX `change_ref` ON `changes` (`ref`);
-- Create index "change_location" to table: "changes"
CREATE INDEX `change_location` ON `changes` (`location`);
-- Create index "change_at" to table: "changes"
CREATE INDEX `change_at` ON `changes` (`at`);
-- Create "feed_cursors" table
CREATE TABLE `feed_cursors` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `name` text NOT NULL, `last_id` integer NOT NULL DEFAULT (0), `updated_at` datetime NOT NULL);
-- Create index "feed_cursors_name_key" to table: "feed_cursors"
CREATE UNIQUE INDEX `feed_cursors_name_key` ON `feed_cursors` (`name`);
-- Create "scaffolder_events" table
CREATE TABLE `scaffolder_events` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `task_id` text NOT NULL, `seq` integer NOT NULL, `type` text NOT NULL, `step_id` text NOT NULL DEFAULT (''), `message` text NOT NULL DEFAULT (''), `created_at` datetime NOT NULL);
-- Create index "scaffolderevent_task_id_seq" to table: "scaffolder_events"
CREATE UNIQUE INDEX `scaffolderevent_task_id_seq` ON `scaffolder_events` (`task_id`, `seq`);
-- Create "scaffolder_steps" table
CREATE TABLE `scaffolder_steps` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `task_id` text NOT NULL, `index` integer NOT NULL, `step_id` text NOT NULL, `name` text NOT NULL, `action` text NOT NULL, `status` text NOT NULL DEFAULT ('OPEN'), `output` json NULL, `error` text NOT NULL DEFAULT (''), `started_at` datetime NULL, `finished_at` datetime NULL);
-- Create index "scaffolderstep_task_id_index" to table: "scaffolder_steps"
CREATE UNIQUE INDEX `scaffolderstep_task_id_index` ON `scaffolder_steps` (`task_id`, `index`);
-- Create "scaffolder_tasks" table
CREATE TABLE `scaffolder_tasks` (`id` text NOT NULL, `template_ref` text NOT NULL, `template` json NOT NULL, `values` json NOT NULL, `state` text NOT NULL DEFAULT ('OPEN'), `created_by` text NOT NULL, `created_by_issuer` text NOT NULL DEFAULT (''), `created_by_ref` text NOT NULL DEFAULT (''), `principal` json NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `queued_ms` integer NOT NULL DEFAULT (0), `started_at` datetime NULL, `finished_at` datetime NULL, `lease_owner` text NOT NULL DEFAULT (''), `lease_until` integer NOT NULL DEFAULT (0), `heartbeat_at` datetime NULL, `attempts` integer NOT NULL DEFAULT (0), `cancel_requested` bool NOT NULL DEFAULT (false), `output` json NULL, `error` text NOT NULL DEFAULT (''), `secrets` blob NULL, `secrets_key` text NOT NULL DEFAULT (''), PRIMARY KEY (`id`));
-- Create index "scaffoldertask_state_lease_until" to table: "scaffolder_tasks"
CREATE INDEX `scaffoldertask_state_lease_until` ON `scaffolder_tasks` (`state`, `lease_until`);
-- Create index "scaffoldertask_created_by_created_at" to table: "scaffolder_tasks"
CREATE INDEX `scaffoldertask_created_by_created_at` ON `scaffolder_tasks` (`created_by`, `created_at`);
-- Create index "scaffoldertask_created_at" to table: "scaffolder_tasks"
CREATE INDEX `scaffoldertask_created_at` ON `scaffolder_tasks` (`created_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
