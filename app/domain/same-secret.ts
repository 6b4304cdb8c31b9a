// Comparing a presented secret with the expected one without leaking, through timing, how
// much of it matched.

/** Whether two secret strings are equal, in time that does not depend on where they differ. */
export function sameSecret(presented: string, expected: string): boolean {
  const left = Buffer.from(presented);
  const right = Buffer.from(expected);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}
