// A logged-in web client for page tests: the session cookie and CSRF token of a real
// login (a token posted to the login form), and fetch helpers that send them.
import { expect } from "bun:test";

export interface WebClient {
  cookie: string;
  csrf: string;
  /** GET a page (no redirects followed). */
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** POST a form with the CSRF field added. */
  post(path: string, form?: Record<string, string>): Promise<Response>;
}

export async function webLogin(baseUrl: string, token: string): Promise<WebClient> {
  const login = await fetch(`${baseUrl}/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, next: "/" }).toString(),
  });
  expect(login.status).toBe(303);
  const cookie = /gantry_session=([^;]*)/.exec(login.headers.get("set-cookie") ?? "")?.[1];
  if (!cookie) throw new Error("login gave no session cookie");
  return webSession(baseUrl, cookie);
}

/** A web client on an existing session cookie, with the CSRF token its pages carry. */
export async function webSession(baseUrl: string, cookie: string): Promise<WebClient> {
  const headers = { cookie: `gantry_session=${cookie}` };
  const home = await (await fetch(`${baseUrl}/`, { headers })).text();
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(home)?.[1];
  if (!csrf) throw new Error(`no CSRF token on the dashboard: ${home.slice(0, 300)}`);
  return {
    cookie,
    csrf,
    get: (path, extra = {}) => fetch(`${baseUrl}${path}`, { redirect: "manual", headers: { ...headers, accept: "text/html", ...extra } }),
    post: (path, form = {}) =>
      fetch(`${baseUrl}${path}`, {
        method: "POST",
        redirect: "manual",
        headers: { ...headers, accept: "text/html", "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: csrf, ...form }).toString(),
      }),
  };
}

/** A real login's session cookie as a Cookie header value ("gantry_session=..."), for a plain fetch. */
export async function loginCookie(gantry: { url: string; token: string }): Promise<string> {
  const client = await webLogin(gantry.url, gantry.token);
  return `gantry_session=${client.cookie}`;
}

/** GET `path`'s HTML, failing with the start of the page when the status is not `status`. */
export async function pageHtml(client: WebClient, path: string, status = 200): Promise<string> {
  const response = await client.get(path);
  const html = await response.text();
  if (response.status !== status) throw new Error(`GET ${path}: ${response.status}, wanted ${status}: ${html.slice(0, 600)}`);
  return html;
}

/** POSTs a form, failing with the start of the answer when the status is not `status`. */
export async function postForm(client: WebClient, path: string, form: Record<string, string>, status: number): Promise<Response> {
  const response = await client.post(path, form);
  if (response.status !== status) throw new Error(`POST ${path}: ${response.status}, wanted ${status}: ${(await response.text()).slice(0, 1500)}`);
  return response;
}
