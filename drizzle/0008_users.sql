CREATE TABLE `users` (
	`id` text PRIMARY KEY NOT NULL,
	`provider` text NOT NULL,
	`subject` text NOT NULL,
	`name` text NOT NULL,
	`login` text,
	`email` text,
	`avatar_url` text,
	`mapped_roles` text NOT NULL,
	`granted_roles` text NOT NULL,
	`groups` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_sign_in_at` integer,
	`disabled_at` integer,
	`disabled_by` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `users_provider_subject` ON `users` (`provider`,`subject`);--> statement-breakpoint
ALTER TABLE `tokens` ADD `user_id` text;--> statement-breakpoint
ALTER TABLE `tokens` ADD `sign_in` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX `tokens_user` ON `tokens` (`user_id`);