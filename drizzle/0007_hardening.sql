CREATE TABLE `login_codes` (
	`hash` text PRIMARY KEY NOT NULL,
	`token_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`used_at` integer,
	FOREIGN KEY (`token_id`) REFERENCES `tokens`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `task_executions` ADD `retry_at` integer;--> statement-breakpoint
ALTER TABLE `tokens` ADD `run` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `task` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `scope` text;--> statement-breakpoint
CREATE INDEX `tokens_run` ON `tokens` (`run`);--> statement-breakpoint
ALTER TABLE `secrets` ADD `warning` text;--> statement-breakpoint
-- Run tokens issued before these columns were named "run <run key> <task>" with no roles: carry them over.
UPDATE `tokens` SET
  `run` = substr(`name`, 5, instr(substr(`name`, 5), ' ') - 1),
  `task` = substr(substr(`name`, 5), instr(substr(`name`, 5), ' ') + 1),
  `scope` = CASE WHEN `permissions` LIKE '%"resource":"objects"%' THEN 'objects' ELSE 'api' END
WHERE `roles` = '[]' AND `name` LIKE 'run %' AND instr(substr(`name`, 5), ' ') > 0;
