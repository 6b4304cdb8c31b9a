// Image builds and pushes (dockerBuild, dockerPush): container tasks whose work the Docker
// executor does through the Engine API instead of running a container. Their stored form,
// the rules for image references and registry addresses, the `${NAME}` references to
// the task's variables they may hold (filled in when the task starts), and who owns an
// image: every build labels its image with its pipeline, a build may only take a name from
// an image of its own pipeline (or a name no image has yet), and a push sends only an image
// of its own pipeline, so one pipeline cannot swap the images another one runs or publish them.

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
export function expandVariables(text: string, env: Readonly<Record<string, string>>, missing: Set<string>): string {
  return text.replace(VARIABLE_REFERENCE, (_, name: string) => {
    const value = env[name];
    if (value === undefined) missing.add(name);
    return value ?? "";
  });
}

const expandRecord = (record: Record<string, string> | undefined, env: Readonly<Record<string, string>>, missing: Set<string>) =>
  record && Object.fromEntries(Object.entries(record).map(([key, value]) => [key, expandVariables(value, env, missing)]));

/** The build with its variables filled in, or why it cannot start (an unknown variable, a tag that came out invalid). */
export function expandImageBuild(build: ImageBuildSpec, env: Readonly<Record<string, string>>): ImageBuildSpec | string {
  const missing = new Set<string>();
  const tags = build.tags.map((tag) => expandVariables(tag, env, missing));
  const buildArgs = expandRecord(build.buildArgs, env, missing);
  const labels = expandRecord(build.labels, env, missing);
  if (missing.size > 0) return `the build uses ${[...missing].map((name) => `\${${name}}`).join(", ")}, which the task's variables do not have`;
  const labelIssue = reservedLabelProblem(labels);
  if (labelIssue) return labelIssue;
  for (const [index, tag] of tags.entries()) {
    const problem = imageReferenceProblem(tag, false);
    if (problem) return `tag "${tag}" (from "${build.tags[index]}") is not a valid image reference: it ${problem}`;
  }
  return { ...build, tags, ...(buildArgs && { buildArgs }), ...(labels && { labels }) };
}

/** The push with its variables filled in, or why it cannot start. */
export function expandImagePush(push: ImagePushSpec, env: Readonly<Record<string, string>>): ImagePushSpec | string {
  const missing = new Set<string>();
  const image = expandVariables(push.image, env, missing);
  const registry = push.registry !== undefined ? expandVariables(push.registry, env, missing) : undefined;
  if (missing.size > 0) return `the push uses ${[...missing].map((name) => `\${${name}}`).join(", ")}, which the task's variables do not have`;
  const imageProblem = imageReferenceProblem(image, false);
  if (imageProblem) return `image "${image}" (from "${push.image}") is not a valid image reference: it ${imageProblem}`;
  const registryIssue = registry !== undefined ? registryProblem(registry, false) : undefined;
  if (registryIssue) return `registry "${registry}" (from "${push.registry}") ${registryIssue}`;
  const expanded = { image, ...(registry !== undefined && { registry }) };
  return pushProblem(expanded) ?? expanded;
}

/**
 * The labels an image built by Gantry carries: the namespace, pipeline and run that built it.
 * The same keys as a task container's labels. An image without `gantry.pipeline` was not built
 * by Gantry (pulled, loaded, built by hand).
 */
export const IMAGE_OWNER_LABELS = {
  namespace: "gantry.namespace",
  pipeline: "gantry.pipeline",
  run: "gantry.run",
} as const;

/** The repository of the runner image (`gantry runner-image`): no pipeline's image may take a name in it. */
export const RUNNER_IMAGE_REPOSITORY = "local/gantry-runner";

/** Labels a pipeline may not set on its images: Gantry's own (`gantry.*`). */
export const RESERVED_LABEL_PREFIX = "gantry.";

/** The pipeline (and run) a build or push works for. */
export interface ImageOwner {
  namespace: string;
  pipeline: string;
  run: number;
}

/** The labels a build gives its image, set over the task's own (and the Dockerfile's LABEL lines). */
export function ownerLabels(owner: ImageOwner): Record<string, string> {
  return {
    [IMAGE_OWNER_LABELS.namespace]: owner.namespace,
    [IMAGE_OWNER_LABELS.pipeline]: owner.pipeline,
    [IMAGE_OWNER_LABELS.run]: String(owner.run),
  };
}

/** What is wrong with the labels a build sets, or undefined: `gantry.*` ones are Gantry's. */
export function reservedLabelProblem(labels: Record<string, string> | undefined): string | undefined {
  const reserved = Object.keys(labels ?? {}).filter((key) => key.toLowerCase().startsWith(RESERVED_LABEL_PREFIX));
  if (reserved.length === 0) return undefined;
  return `label${reserved.length > 1 ? "s" : ""} ${reserved.map((key) => `"${key}"`).join(", ")} may not be set: labels starting with "${RESERVED_LABEL_PREFIX}" are Gantry's own (they name the pipeline that built the image)`;
}

/** "namespace/pipeline" of the image's builder, or undefined when Gantry did not build it. */
export function imageBuilder(labels: Record<string, string> | null | undefined): string | undefined {
  const pipeline = labels?.[IMAGE_OWNER_LABELS.pipeline];
  if (pipeline === undefined || pipeline === "") return undefined;
  return `${labels?.[IMAGE_OWNER_LABELS.namespace] ?? "?"}/${pipeline}`;
}

const isOwnedBy = (labels: Record<string, string> | null | undefined, owner: ImageOwner) =>
  labels?.[IMAGE_OWNER_LABELS.pipeline] === owner.pipeline && labels?.[IMAGE_OWNER_LABELS.namespace] === owner.namespace;

/**
 * Why a build (or a push tagging for its registry) may not point `name` at its image, or
 * undefined. `current` is the image the name points at now (its labels), undefined when no
 * image has the name: a name may be taken when it is free or names an image of this pipeline,
 * never from another pipeline's image nor from an image Gantry did not build.
 */
export function tagProblem(name: string, current: { labels: Record<string, string> | null | undefined } | undefined, owner: ImageOwner): string | undefined {
  if (splitImageReference(name).repository.replace(/^docker\.io\//, "") === RUNNER_IMAGE_REPOSITORY) {
    return `tag ${name} is reserved: ${RUNNER_IMAGE_REPOSITORY} is the image run() tasks run in on a swarm (gantry runner-image makes it), which no pipeline may replace`;
  }
  if (!current) return undefined;
  if (isOwnedBy(current.labels, owner)) return undefined;
  const builder = imageBuilder(current.labels);
  if (builder === undefined) {
    return `tag ${name} would replace an image Gantry did not build (a pipeline may only give its images a name that is free or that names an image it built itself)`;
  }
  return `tag ${name} names an image built by pipeline ${builder}; pipeline ${owner.namespace}/${owner.pipeline} may not take it (choose another name)`;
}

/** Why a push may not send `image` (its labels), or undefined: only an image this pipeline built. */
export function pushOwnerProblem(image: string, labels: Record<string, string> | null | undefined, owner: ImageOwner): string | undefined {
  if (isOwnedBy(labels, owner)) return undefined;
  const builder = imageBuilder(labels);
  const whose = builder === undefined ? "Gantry did not build it" : `it was built by pipeline ${builder}`;
  return `image ${image} was not built by this pipeline (${owner.namespace}/${owner.pipeline}): ${whose}; dockerPush pushes only images a dockerBuild task of the same pipeline made`;
}
