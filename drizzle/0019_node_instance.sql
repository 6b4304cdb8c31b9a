ALTER TABLE `nodes` ADD `instance` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `nodes` ADD `pid_scope` text DEFAULT '' NOT NULL;