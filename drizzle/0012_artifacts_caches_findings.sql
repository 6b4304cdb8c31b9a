CREATE TABLE `artifacts` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`run_id` integer NOT NULL,
	`name` text NOT NULL,
	`task_id` text NOT NULL,
	`path` text NOT NULL,
	`kind` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`storage_key` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `pipeline_id`, `run_id`, `name`),
	FOREIGN KEY (`namespace`,`pipeline_id`,`run_id`) REFERENCES `runs`(`namespace`,`pipeline_id`,`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `cache_entries` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`key` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`storage_key` text NOT NULL,
	`run_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `pipeline_id`, `key`)
);
--> statement-breakpoint
CREATE INDEX `cache_entries_used` ON `cache_entries` (`namespace`,`pipeline_id`,`last_used_at`);--> statement-breakpoint
CREATE TABLE `findings` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`run_id` integer NOT NULL,
	`task_id` text NOT NULL,
	`seq` integer NOT NULL,
	`tool` text NOT NULL,
	`rule_id` text,
	`level` text NOT NULL,
	`message` text NOT NULL,
	`file` text,
	`line` integer,
	`fingerprint` text NOT NULL,
	PRIMARY KEY(`namespace`, `pipeline_id`, `run_id`, `task_id`, `seq`),
	FOREIGN KEY (`namespace`,`pipeline_id`,`run_id`) REFERENCES `runs`(`namespace`,`pipeline_id`,`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `findings_fingerprint` ON `findings` (`namespace`,`pipeline_id`,`fingerprint`);--> statement-breakpoint
ALTER TABLE `task_executions` ADD `cache_result` text;