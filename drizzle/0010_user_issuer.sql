DROP INDEX `users_provider_subject`;--> statement-breakpoint
ALTER TABLE `users` ADD `issuer` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `users_identity` ON `users` (`provider`,`issuer`,`subject`);