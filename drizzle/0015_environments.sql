CREATE TABLE `environments` (
	`name` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`config` text NOT NULL,
	`secrets` text NOT NULL,
	`description` text,
	`protection` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `deployments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`environment` text NOT NULL,
	`service` text NOT NULL,
	`image` text NOT NULL,
	`previous_image` text,
	`state` text NOT NULL,
	`reason` text,
	`namespace` text,
	`pipeline_id` text,
	`run_id` integer,
	`task_id` text,
	`by` text,
	`strategy` text NOT NULL,
	`started_at` integer NOT NULL,
	`ended_at` integer,
	FOREIGN KEY (`environment`) REFERENCES `environments`(`name`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `deployments_environment` ON `deployments` (`environment`,`id`);