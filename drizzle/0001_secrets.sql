CREATE TABLE `secrets` (
	`scope` text NOT NULL,
	`name` text NOT NULL,
	`ciphertext` text NOT NULL,
	`key_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`scope`, `name`)
);
