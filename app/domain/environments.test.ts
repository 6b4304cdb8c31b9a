import { describe, expect, it } from "bun:test";
import { deployCandidates, environmentKey, environmentRefOf, parseEnvironmentSettings } from "./environments.ts";
import { secretsNamedBy } from "./provider-configs.ts";

describe("environment keys", () => {
  it("are the name of a shared environment and <namespace>/<name> of a namespace's own", () => {
    expect(environmentKey({ namespace: null, name: "staging" })).toBe("staging");
    expect(environmentKey({ namespace: "team-a", name: "staging" })).toBe("team-a/staging");
    expect(environmentRefOf("team-a/staging")).toEqual({ namespace: "team-a", name: "staging" });
    expect(environmentRefOf("staging")).toEqual({ namespace: null, name: "staging" });
  });

  it("send a namespace's deploy to its own environment first, then the shared one", () => {
    expect(deployCandidates("team-a", "staging")).toEqual(["team-a/staging", "staging"]);
  });
});

describe("a swarm environment's config", () => {
  it("takes a registry and the secret holding its credentials", () => {
    const parsed = parseEnvironmentSettings({ provider: "swarm", config: { registry: "127.0.0.1:5000", registryAuth: "REGISTRY_LOGIN" } });
    expect(parsed).toEqual({ ok: true, settings: { provider: "swarm", config: { registry: "127.0.0.1:5000", registryAuth: "REGISTRY_LOGIN" }, secrets: [], protection: {} } });
    if (parsed.ok) expect(secretsNamedBy("swarm", parsed.settings.config)).toEqual(["REGISTRY_LOGIN"]);
  });

  it("names each problem: credentials without a registry, a registry with a scheme, an unknown field", () => {
    expect(parseEnvironmentSettings({ provider: "swarm", config: { registryAuth: "LOGIN" } })).toEqual({ ok: false, message: "config.registryAuth names the credentials of config.registry, which is not set" });
    const scheme = parseEnvironmentSettings({ provider: "swarm", config: { registry: "https://registry.example.com" } });
    expect(scheme.ok === false && scheme.message).toStartWith("config.registry must be a registry address");
    expect(parseEnvironmentSettings({ provider: "swarm", config: { region: "eu" } })).toEqual({ ok: false, message: "unknown field config.region: a swarm environment's config takes dockerHost, registry and registryAuth" });
  });
});
