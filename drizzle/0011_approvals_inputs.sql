ALTER TABLE `runs` ADD `inputs` text DEFAULT '{}' NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `actor` text;--> statement-breakpoint
ALTER TABLE `task_executions` ADD `gate` text;--> statement-breakpoint
ALTER TABLE `task_executions` ADD `decision` text;