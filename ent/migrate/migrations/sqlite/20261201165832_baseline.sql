-- Create "catalog_state" table
CREATE TABLE `catalog_state` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `generation` integer NOT NULL DEFAULT (0));
-- Create "changes" table
CREATE TABLE `changes` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `at` datetime NOT NULL, `type` text NOT NULL, `ref` text NOT NULL, `location` text NOT NULL, `revision` text NOT NULL DEFAULT (''), `reason` text NOT NULL DEFAULT (''), `fields` json NULL);
-- Create index "change_ref" to table: "changes"
CREATE INDEX `change_ref` ON `changes` (`ref`);
-- Create index "change_location" to table: "changes"
CREATE INDEX `change_location` ON `changes` (`location`);
-- Create "doc_assets" table
CREATE TABLE `doc_assets` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `entity_ref` text NOT NULL, `path` text NOT NULL, `content_type` text NOT NULL, `data` blob NOT NULL, `hash` text NOT NULL);
-- Create index "docasset_entity_ref_path" to table: "doc_assets"
CREATE UNIQUE INDEX `docasset_entity_ref_path` ON `doc_assets` (`entity_ref`, `path`);
-- Create "doc_pages" table
CREATE TABLE `doc_pages` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `entity_ref` text NOT NULL, `path` text NOT NULL, `title` text NOT NULL, `text` text NOT NULL DEFAULT (''), `html` text NOT NULL, `headings` blob NULL, `hash` text NOT NULL, `position` integer NOT NULL DEFAULT (0), `revision` text NOT NULL DEFAULT (''), `updated_at` datetime NOT NULL);
-- Create index "docpage_entity_ref_path" to table: "doc_pages"
CREATE UNIQUE INDEX `docpage_entity_ref_path` ON `doc_pages` (`entity_ref`, `path`);
-- Create "doc_sites" table
CREATE TABLE `doc_sites` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `entity_ref` text NOT NULL, `location` text NOT NULL, `site_name` text NOT NULL DEFAULT (''), `nav` blob NULL, `hash` text NOT NULL DEFAULT (''), `revision` text NOT NULL DEFAULT (''), `updated_at` datetime NOT NULL);
-- Create index "doc_sites_entity_ref_key" to table: "doc_sites"
CREATE UNIQUE INDEX `doc_sites_entity_ref_key` ON `doc_sites` (`entity_ref`);
-- Create index "docsite_location" to table: "doc_sites"
CREATE INDEX `docsite_location` ON `doc_sites` (`location`);
-- Create "entities" table
CREATE TABLE `entities` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `ref` text NOT NULL, `kind` text NOT NULL, `namespace` text NOT NULL, `name` text NOT NULL, `api_version` text NOT NULL, `title` text NOT NULL DEFAULT (''), `description` text NOT NULL DEFAULT (''), `type` text NOT NULL DEFAULT (''), `lifecycle` text NOT NULL DEFAULT (''), `owner_ref` text NOT NULL DEFAULT (''), `system_ref` text NOT NULL DEFAULT (''), `tags` json NOT NULL, `labels` json NOT NULL, `annotations` json NOT NULL, `document` json NOT NULL, `hash` text NOT NULL, `location` text NOT NULL, `source` text NOT NULL, `created_at` datetime NOT NULL, `observed_at` datetime NULL, `updated_at` datetime NOT NULL);
-- Create index "entities_ref_key" to table: "entities"
CREATE UNIQUE INDEX `entities_ref_key` ON `entities` (`ref`);
-- Create index "entity_kind_namespace" to table: "entities"
CREATE INDEX `entity_kind_namespace` ON `entities` (`kind`, `namespace`);
-- Create index "entity_owner_ref" to table: "entities"
CREATE INDEX `entity_owner_ref` ON `entities` (`owner_ref`);
-- Create index "entity_system_ref" to table: "entities"
CREATE INDEX `entity_system_ref` ON `entities` (`system_ref`);
-- Create index "entity_location" to table: "entities"
CREATE INDEX `entity_location` ON `entities` (`location`);
-- Create "locations" table
CREATE TABLE `locations` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `key` text NOT NULL, `provider` text NOT NULL, `target` text NOT NULL, `last_read_at` datetime NULL, `last_success_at` datetime NULL, `last_change_at` datetime NULL, `last_error` text NOT NULL DEFAULT (''), `entities` integer NOT NULL DEFAULT (0), `errors` integer NOT NULL DEFAULT (0), `duration_ms` integer NOT NULL DEFAULT (0), `options` json NULL, `origin` text NOT NULL DEFAULT ('config'), `registered_by` text NOT NULL DEFAULT (''), `created_at` datetime NULL, `retired` bool NOT NULL DEFAULT (false), `revision` text NOT NULL DEFAULT (''), `last_observed_at` datetime NULL);
-- Create index "locations_key_key" to table: "locations"
CREATE UNIQUE INDEX `locations_key_key` ON `locations` (`key`);
-- Create "processing_errors" table
CREATE TABLE `processing_errors` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `location` text NOT NULL, `source` text NOT NULL, `document` integer NOT NULL DEFAULT (0), `line` integer NOT NULL DEFAULT (0), `entity_ref` text NOT NULL DEFAULT (''), `path` text NOT NULL DEFAULT (''), `message` text NOT NULL, `created_at` datetime NOT NULL);
-- Create index "processingerror_location" to table: "processing_errors"
CREATE INDEX `processingerror_location` ON `processing_errors` (`location`);
-- Create index "processingerror_entity_ref" to table: "processing_errors"
CREATE INDEX `processingerror_entity_ref` ON `processing_errors` (`entity_ref`);
-- Create "relations" table
CREATE TABLE `relations` (`id` integer NOT NULL PRIMARY KEY AUTOINCREMENT, `source_ref` text NOT NULL, `type` text NOT NULL, `target_ref` text NOT NULL, `entity_id` integer NOT NULL);
-- Create index "relation_source_ref_type" to table: "relations"
CREATE INDEX `relation_source_ref_type` ON `relations` (`source_ref`, `type`);
-- Create index "relation_entity_id" to table: "relations"
CREATE INDEX `relation_entity_id` ON `relations` (`entity_id`);
