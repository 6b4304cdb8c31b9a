CREATE TABLE `pipelines` (
	`namespace` text NOT NULL,
	`id` text NOT NULL,
	`file` text NOT NULL,
	`current_version` integer,
	`load_error` text,
	`last_run_id` integer DEFAULT 0 NOT NULL,
	`deleted_at` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `id`)
);
--> statement-breakpoint
CREATE TABLE `pipeline_versions` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`version` integer NOT NULL,
	`hash` text NOT NULL,
	`bundle_path` text NOT NULL,
	`spec` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`namespace`, `pipeline_id`, `version`),
	FOREIGN KEY (`namespace`,`pipeline_id`) REFERENCES `pipelines`(`namespace`,`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pipeline_versions_hash` ON `pipeline_versions` (`namespace`,`pipeline_id`,`hash`);--> statement-breakpoint
CREATE TABLE `runs` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`id` integer NOT NULL,
	`state` text NOT NULL,
	`reason` text,
	`trigger` text NOT NULL,
	`version` integer NOT NULL,
	`variables` text NOT NULL,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer,
	PRIMARY KEY(`namespace`, `pipeline_id`, `id`),
	FOREIGN KEY (`namespace`,`pipeline_id`) REFERENCES `pipelines`(`namespace`,`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `runs_state` ON `runs` (`state`);--> statement-breakpoint
CREATE INDEX `runs_created` ON `runs` (`created_at`);--> statement-breakpoint
CREATE TABLE `task_executions` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`run_id` integer NOT NULL,
	`task_id` text NOT NULL,
	`kind` text NOT NULL,
	`state` text NOT NULL,
	`exit_code` integer,
	`attempt` integer DEFAULT 0 NOT NULL,
	`reason` text,
	`pid` integer,
	`started_at` integer,
	`ended_at` integer,
	PRIMARY KEY(`namespace`, `pipeline_id`, `run_id`, `task_id`),
	FOREIGN KEY (`namespace`,`pipeline_id`,`run_id`) REFERENCES `runs`(`namespace`,`pipeline_id`,`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`namespace` text,
	`pipeline_id` text,
	`run_id` integer,
	`task_id` text,
	`data` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_at` ON `events` (`at`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`hash` text NOT NULL,
	`roles` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`last_used_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash` ON `tokens` (`hash`);