// The web UI's routers (index.ts and the pages under it: ~2.5 MiB of an idle server's memory
// once loaded) load on the first request for a page, so a server driven only through the API,
// the CLI and webhooks never holds them. Only paths under the pages' own first segments ask for
// them: a scanner trying /wp-login.php gets the ordinary 404 and loads nothing.
import { Hono, type MiddlewareHandler } from "hono";
import type { Deps } from "../../deps.ts";
import type { AppEnv } from "../env.ts";
import { handleError } from "../errors.ts";

/**
 * The first path segment of every page route ("" is the dashboard at /, "live" the streams);
 * test/web-access.test.ts fails when a route is added under another one.
 */
export const PAGE_SEGMENTS: ReadonlySet<string> = new Set(["", "public", "login", "logout", "auth", "live", "pipelines", "sources", "environments", "secrets", "tokens", "users", "extensions", "events", "system"]);

/** Marks the pages' "no such route" answer, which goes on to the rest of the app instead. */
const NO_PAGE = "x-gantry-no-page";

export interface LazyPages {
  /** Serves a page (loading the pages first, once), or goes on to the next route. */
  handler: MiddlewareHandler<AppEnv>;
  /** Whether a request has loaded the pages into this app yet. */
  loaded(): boolean;
}

export function lazyPages(deps: Deps): LazyPages {
  let pages: Promise<Hono<AppEnv>> | undefined;
  // The same routers as ever, in an app of their own that sets what the outer app's first
  // middleware sets; errors are answered the same way (an error page for a browser).
  // A failed load is not kept: the next page asked for tries again.
  const load = () =>
    (pages ??= import("./index.ts")
      .then(({ webPages }) =>
        new Hono<AppEnv>()
          .use((c, next) => {
            c.set("deps", deps);
            return next();
          })
          .onError(handleError)
          .notFound(() => new Response(null, { status: 404, headers: { [NO_PAGE]: "1" } }))
          .route("/", webPages),
      )
      .catch((error: unknown) => {
        pages = undefined;
        throw error;
      }));
  return {
    loaded: () => pages !== undefined,
    async handler(c, next) {
      if (!PAGE_SEGMENTS.has(c.req.path.split("/")[1] ?? "")) return next();
      // c.env holds the Bun server (start.ts): the pages read the client's address from it.
      const response = await (await load()).fetch(c.req.raw, c.env);
      if (response.headers.has(NO_PAGE)) return next();
      return response;
    },
  };
}
