CREATE TABLE `sources` (
	`name` text PRIMARY KEY NOT NULL,
	`repo` text NOT NULL,
	`branch` text NOT NULL,
	`path` text NOT NULL,
	`namespace` text NOT NULL,
	`auth` text,
	`hook_secret` text,
	`poll_interval_ms` integer NOT NULL,
	`defined_in` text NOT NULL,
	`state` text NOT NULL,
	`head` text,
	`last_error` text,
	`last_sync_at` integer,
	`last_checked_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `source_commits` (
	`source` text NOT NULL,
	`sha` text NOT NULL,
	`seq` integer NOT NULL,
	`author` text NOT NULL,
	`message` text NOT NULL,
	`committed_at` text NOT NULL,
	`loaded` integer NOT NULL,
	`synced_at` integer NOT NULL,
	PRIMARY KEY(`source`, `sha`)
);
--> statement-breakpoint
CREATE INDEX `source_commits_seq` ON `source_commits` (`source`,`seq`);--> statement-breakpoint
CREATE TABLE `source_pipeline_versions` (
	`source` text NOT NULL,
	`seq` integer NOT NULL,
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`version` integer,
	PRIMARY KEY(`source`, `namespace`, `pipeline_id`, `seq`)
);
--> statement-breakpoint
ALTER TABLE `pipelines` ADD `source` text;--> statement-breakpoint
ALTER TABLE `pipeline_versions` ADD `origin` text;--> statement-breakpoint
ALTER TABLE `pipeline_versions` ADD `files` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `commit` text;