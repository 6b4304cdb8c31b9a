// Whether a host name is this machine's own loopback: a sign-in provider there never crosses a
// network, and an API URL there is reached only from the server's own node.

/** 127.0.0.0/8, ::1 and localhost (and *.localhost). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost") || host === "::1") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
