// GitHub's libraries the built-in github extension imports. The single binary bundles them
// here and extension-worker.ts hands them to extensions that import them, so an extensions
// folder beside the binary needs no node_modules; from source they resolve from node_modules.
export * as authApp from "@octokit/auth-app";
export * as request from "@octokit/request";
export * as webhooksMethods from "@octokit/webhooks-methods";
