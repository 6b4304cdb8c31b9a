// Image builds and pushes (dockerBuild, dockerPush): container tasks whose work the Docker
// executor does through the Engine API instead of running a container. Their stored form,
// the rules for image references and registry addresses, and the `${NAME}` references to
// the task's variables they may hold (filled in when the task starts).

/** A `docker build` of a folder of the workspace. Tags, build args and labels may hold `${NAME}`. */
export interface ImageBuildSpec {
  /** The build context: a folder in the run's workspace (relative, no `..`). */
  context: string;
  /** The Dockerfile's path inside the context ("Dockerfile" when absent). */
  dockerfile?: string;
  /** Names the image gets, e.g. "app:1", "127.0.0.1:5000/app:latest"; at least one. */
  tags: string[];
  buildArgs?: Record<string, string>;
  /** The stage of a multi-stage Dockerfile to build. */
  target?: string;
  /** Images whose layers may serve as cache (built with inline cache metadata for BuildKit). */
  cacheFrom?: string[];
  labels?: Record<string, string>;
  /** Build every step again, using no cached layers. */
  noCache?: boolean;
}

/** A `docker push` of an image on the engine; the task's `pullSecret` holds the registry's credentials. Both may hold `${NAME}`. */
export interface ImagePushSpec {
  /** The image to push, e.g. "app:1" (tag "latest" when it names none). */
  image: string;
  /** A registry (`host[:port]`) the image is tagged for and pushed to: `<registry>/<image>`. */
  registry?: string;
}

const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN = "(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?";
const TAG = "[\\w][\\w.-]{0,127}";

/** `host[:port]` of a registry, e.g. "127.0.0.1:5000", "registry.example.com". */
export const REGISTRY_PATTERN = new RegExp(`^${DOMAIN}$`);

/** Docker's image reference, tag optional, no digest: `[registry/]path/name[:tag]`. */
export const IMAGE_REFERENCE_PATTERN = new RegExp(`^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG})?$`);

/** `${NAME}`: a variable of the task's environment (pipeline and run variables, GANTRY_*). */
const VARIABLE_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The text as it would read with every `${NAME}` filled in with a harmless value, for checks at load. */
function shapeOf(text: string): string {
  return text.replace(VARIABLE_REFERENCE, "x");
}

/** Whether the first part of a reference is a registry (it has a dot or a port, or is localhost). */
function hasRegistry(reference: string): boolean {
  const slash = reference.indexOf("/");
  if (slash === -1) return false;
  const first = reference.slice(0, slash);
  return first.includes(".") || first.includes(":") || first === "localhost";
}

/** What is wrong with an image reference a task gives, or undefined; `${NAME}` allowed unless it is filled in already. */
export function imageReferenceProblem(reference: string, variables = true): string | undefined {
  const shape = variables ? shapeOf(reference) : reference;
  if (shape.includes("${")) return 'has a "${" that is not a ${NAME} reference to a variable';
  if (reference.length > 255) return "must be at most 255 characters";
  if (!IMAGE_REFERENCE_PATTERN.test(shape)) {
    return 'must be an image reference like "app:1" or "127.0.0.1:5000/team/app:1" (lowercase name, optional tag, no digest)';
  }
  return undefined;
}

/** What is wrong with a registry address, or undefined; `${NAME}` allowed unless it is filled in already. */
export function registryProblem(registry: string, variables = true): string | undefined {
  const shape = variables ? shapeOf(registry) : registry;
  if (shape.includes("${")) return 'has a "${" that is not a ${NAME} reference to a variable';
  if (!REGISTRY_PATTERN.test(shape)) return 'must be a registry address like "127.0.0.1:5000" or "registry.example.com"';
  return undefined;
}

/** A reference split into its repository and tag ("latest" when it names none). */
export function splitImageReference(reference: string): { repository: string; tag: string } {
  const colon = reference.lastIndexOf(":");
  // A colon before the last slash is a registry's port, not a tag.
  if (colon === -1 || colon < reference.lastIndexOf("/")) return { repository: reference, tag: "latest" };
  return { repository: reference.slice(0, colon), tag: reference.slice(colon + 1) };
}

/** Where a push sends the image: `<registry>/<image>:<tag>`, or the image itself. */
export function pushTarget(push: ImagePushSpec): { repository: string; tag: string; reference: string } {
  const { repository, tag } = splitImageReference(push.image);
  const full = push.registry ? `${push.registry}/${repository}` : repository;
  return { repository: full, tag, reference: `${full}:${tag}` };
}

/** What is wrong with a push's image and registry together, or undefined. */
export function pushProblem(push: ImagePushSpec): string | undefined {
  if (push.registry && hasRegistry(shapeOf(push.image))) return `image "${push.image}" names a registry already; leave out registry, or name the image without one`;
  return undefined;
}

/** `${NAME}` filled in from the task's environment; an unknown name is a problem (a tag must not silently become "app:"). */
function expand(text: string, env: Readonly<Record<string, string>>, missing: Set<string>): string {
  return text.replace(VARIABLE_REFERENCE, (_, name: string) => {
    const value = env[name];
    if (value === undefined) missing.add(name);
    return value ?? "";
  });
}

const expandRecord = (record: Record<string, string> | undefined, env: Readonly<Record<string, string>>, missing: Set<string>) =>
  record && Object.fromEntries(Object.entries(record).map(([key, value]) => [key, expand(value, env, missing)]));

/** The build with its variables filled in, or why it cannot start (an unknown variable, a tag that came out invalid). */
export function expandImageBuild(build: ImageBuildSpec, env: Readonly<Record<string, string>>): ImageBuildSpec | string {
  const missing = new Set<string>();
  const tags = build.tags.map((tag) => expand(tag, env, missing));
  const buildArgs = expandRecord(build.buildArgs, env, missing);
  const labels = expandRecord(build.labels, env, missing);
  if (missing.size > 0) return `the build uses ${[...missing].map((name) => `\${${name}}`).join(", ")}, which the task's variables do not have`;
  for (const [index, tag] of tags.entries()) {
    const problem = imageReferenceProblem(tag, false);
    if (problem) return `tag "${tag}" (from "${build.tags[index]}") is not a valid image reference: it ${problem}`;
  }
  return { ...build, tags, ...(buildArgs && { buildArgs }), ...(labels && { labels }) };
}

/** The push with its variables filled in, or why it cannot start. */
export function expandImagePush(push: ImagePushSpec, env: Readonly<Record<string, string>>): ImagePushSpec | string {
  const missing = new Set<string>();
  const image = expand(push.image, env, missing);
  const registry = push.registry !== undefined ? expand(push.registry, env, missing) : undefined;
  if (missing.size > 0) return `the push uses ${[...missing].map((name) => `\${${name}}`).join(", ")}, which the task's variables do not have`;
  const imageProblem = imageReferenceProblem(image, false);
  if (imageProblem) return `image "${image}" (from "${push.image}") is not a valid image reference: it ${imageProblem}`;
  const registryIssue = registry !== undefined ? registryProblem(registry, false) : undefined;
  if (registryIssue) return `registry "${registry}" (from "${push.registry}") ${registryIssue}`;
  const expanded = { image, ...(registry !== undefined && { registry }) };
  return pushProblem(expanded) ?? expanded;
}
