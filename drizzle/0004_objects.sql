CREATE TABLE `objects` (
	`scope` text NOT NULL,
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`run_id` integer NOT NULL,
	`key` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`seq` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `namespace`, `pipeline_id`, `run_id`, `key`)
);
--> statement-breakpoint
CREATE INDEX `objects_seq` ON `objects` (`seq`);