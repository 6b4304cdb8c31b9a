// Greets someone by name; the one module of the sample project.

/** "Hello, <name>!", with the name trimmed; "Hello, world!" for an empty one. */
export function greet(name: string): string {
  const trimmed = name.trim();
  return `Hello, ${trimmed === "" ? "world" : trimmed}!`;
}
