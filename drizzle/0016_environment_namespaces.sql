ALTER TABLE `environments` ADD `namespace` text;--> statement-breakpoint
ALTER TABLE `environments` ADD `status` text;--> statement-breakpoint
ALTER TABLE `environments` ADD `status_detail` text;--> statement-breakpoint
ALTER TABLE `environments` ADD `status_at` integer;