// deploy({ ports }): the ports a service publishes, as the SDK takes them ("8080:80", objects)
// and as the spec checks a stored version (hand-written ones too).
import { describe, expect, it } from "bun:test";
import { toPipelineSpec } from "../app/domain/pipeline-spec.ts";
import { blueGreen, deploy } from "../app/sdk/deploy.ts";

const web = (ports: Parameters<typeof deploy>[0]["ports"], strategy?: Parameters<typeof deploy>[0]["strategy"]) =>
  deploy({ environment: "staging", service: "web", image: "app:1", ports, ...(strategy && { strategy }) });

describe("deploy({ ports })", () => {
  it("takes published:target text and objects, tcp and ingress by default", () => {
    expect(web(["8080:80", "5353:53/udp", { published: 9000, target: 9000, mode: "host" }]).deploy.ports).toEqual([
      { published: 8080, target: 80, protocol: "tcp", mode: "ingress" },
      { published: 5353, target: 53, protocol: "udp", mode: "ingress" },
      { published: 9000, target: 9000, protocol: "tcp", mode: "host" },
    ]);
    expect(web(undefined).deploy.ports).toEqual([]);
  });

  it("refuses what is not a port, a port published twice, and ports with blueGreen()", () => {
    expect(() => web(["80"])).toThrow('deploy: ports: "80" is not a port like "8080:80" or "8080:80/udp" (published:target)');
    expect(() => web(["70000:80"])).toThrow('deploy: ports: "70000:80": ports are 1 to 65535');
    expect(() => web(["8080:80", "8080:81"])).toThrow("deploy: ports: port 8080/tcp is published twice");
    expect(() => web(["8080:80"], blueGreen())).toThrow("deploy: ports: blueGreen() cannot publish ports (both colors would claim them)");
  });

  it("is checked in a stored version, naming the problem", () => {
    const task = web(["8080:80"]);
    const spec = (deploy: unknown) => toPipelineSpec({ id: "ship", tasks: { web: { ...task, deploy } } });
    expect(spec(task.deploy).ok).toBe(true);
    const twice = spec({ ...task.deploy, ports: [...task.deploy.ports!, { published: 8080, target: 81, protocol: "tcp", mode: "ingress" }] });
    expect(twice.ok === false && twice.issues.map((issue) => issue.message)).toEqual(["ports: port 8080/tcp is published twice"]);
    const odd = spec({ ...task.deploy, ports: [{ published: 8080, target: 80, protocol: "sctp", mode: "ingress" }] });
    expect(odd.ok === false && odd.issues.map((issue) => `${issue.path}: ${issue.message}`)).toEqual(['tasks.web.deploy.ports.0.protocol: must be "tcp" or "udp"']);
  });
});
