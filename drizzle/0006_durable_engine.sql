CREATE TABLE `task_attempts` (
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`run_id` integer NOT NULL,
	`task_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`state` text NOT NULL,
	`exit_code` integer,
	`reason` text,
	`executor` text NOT NULL,
	`ref` text,
	`node_id` text,
	`log_from` integer DEFAULT 0 NOT NULL,
	`log_to` integer,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	PRIMARY KEY(`namespace`, `pipeline_id`, `run_id`, `task_id`, `attempt`),
	FOREIGN KEY (`namespace`,`pipeline_id`,`run_id`) REFERENCES `runs`(`namespace`,`pipeline_id`,`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`hostname` text NOT NULL,
	`pid` integer NOT NULL,
	`version` text NOT NULL,
	`started_at` integer NOT NULL,
	`heartbeat_at` integer NOT NULL,
	`stopped_at` integer
);
--> statement-breakpoint
CREATE TABLE `system_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`paused` integer DEFAULT false NOT NULL,
	`paused_by` text,
	`paused_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `no_secrets` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `concurrency_key` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `concurrency` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `rerun_of` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `rerun_only` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `node_id` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `lease_expires_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `cancel_requested_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `cancel_reason` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `queued_at` integer;--> statement-breakpoint
CREATE INDEX `runs_concurrency` ON `runs` (`concurrency_key`,`state`);--> statement-breakpoint
CREATE INDEX `runs_node` ON `runs` (`node_id`,`state`);--> statement-breakpoint
ALTER TABLE `task_executions` ADD `reused_from` integer;--> statement-breakpoint
ALTER TABLE `task_executions` ADD `node_id` text;--> statement-breakpoint
ALTER TABLE `task_executions` ADD `lease_expires_at` integer;--> statement-breakpoint
ALTER TABLE `task_executions` DROP COLUMN `pid`;--> statement-breakpoint
UPDATE `runs` SET `queued_at` = `created_at`;--> statement-breakpoint
UPDATE `runs` SET `state` = 'queued' WHERE `state` = 'pending';--> statement-breakpoint
INSERT INTO `task_attempts` (`namespace`, `pipeline_id`, `run_id`, `task_id`, `attempt`, `state`, `exit_code`, `reason`, `executor`, `started_at`, `ended_at`)
  SELECT `namespace`, `pipeline_id`, `run_id`, `task_id`, `attempt`,
    CASE WHEN `state` IN ('running', 'successful', 'failed', 'cancelled') THEN `state` ELSE 'failed' END,
    `exit_code`, `reason`, `kind`, COALESCE(`started_at`, 0), `ended_at`
  FROM `task_executions` WHERE `attempt` > 0;--> statement-breakpoint
INSERT INTO `system_state` (`id`, `paused`, `updated_at`) VALUES (1, false, 0);
