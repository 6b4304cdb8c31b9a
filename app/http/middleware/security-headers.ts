// Security headers on every answer: a Content-Security-Policy without inline script (pages
// load htmx and styles from /public only), no framing, referrers only to ourselves (login links carry one-time codes).
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../env.ts";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

export const securityHeaders = createMiddleware<AppEnv>(async (c, next) => {
  await next();
  c.header("x-content-type-options", "nosniff");
  // Same-origin only: login links carry one-time codes, and a referrer-less form post would send `Origin: null`.
  c.header("referrer-policy", "same-origin");
  if (c.res.headers.get("content-type")?.includes("text/html")) {
    c.header("content-security-policy", CONTENT_SECURITY_POLICY);
    c.header("x-frame-options", "DENY");
  }
});
