CREATE TABLE `subscriptions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`extension` text NOT NULL,
	`params` text NOT NULL,
	`source` text NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`namespace`,`pipeline_id`) REFERENCES `pipelines`(`namespace`,`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `subscriptions_pipeline` ON `subscriptions` (`namespace`,`pipeline_id`);--> statement-breakpoint
CREATE TABLE `deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`extension` text NOT NULL,
	`delivery_id` text NOT NULL,
	`namespace` text NOT NULL,
	`pipeline_id` text NOT NULL,
	`run_id` integer,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_unique` ON `deliveries` (`extension`,`delivery_id`,`namespace`,`pipeline_id`);--> statement-breakpoint
CREATE TABLE `extension_state` (
	`extension` text NOT NULL,
	`key` text NOT NULL,
	`value` text NOT NULL,
	PRIMARY KEY(`extension`, `key`)
);
