// A free TCP port on 127.0.0.1, for servers that cannot report one they picked themselves
// (git daemon, docker-registry, verdaccio, an OIDC stub started before its config is known).

/** A port nothing listens on right now (bound and released). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}
