// The roles a signed-in person holds: those their provider's groups map to at the last
// sign-in, and those an admin granted. Pure, so permission checks and the users API agree.

/** A provider group (OIDC), or a GitHub org or org/team, and the role it gives. */
export interface RoleMapping {
  group: string;
  role: string;
}

/** The roles a person holds now: mapped from their groups at the last sign-in, and granted. */
export function effectiveRoles(user: { mappedRoles: readonly string[]; grantedRoles: readonly string[] }): string[] {
  return [...new Set([...user.mappedRoles, ...user.grantedRoles])];
}

/** The roles a provider's groups map to, in the order of the mapping. */
export function mapGroups(groups: readonly string[], mapping: readonly RoleMapping[]): string[] {
  const held = new Set(groups);
  return [...new Set(mapping.filter((entry) => held.has(entry.group)).map((entry) => entry.role))];
}
